// The KMS-backed signer end to end: a real kube-apiserver started with --service-account-signing-endpoint signs
// every token through `kubectl irsa signer`, which signs with moto's KMS over TLS. Tokens are checked by jose
// against the keys.json that `init --key-source kms` published (not by kubectl-irsa's own verifier), STS accepts
// them, and KMS outages and a key rotation are driven through a proxy in front of moto.
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { AssumeRoleWithWebIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { KubeClient } from "../../lib/kube/client.ts";
import { flagsFromInit } from "../support/apiserver_flags.ts";
import { anonymousFetcher, sandboxAws, sandboxHttpHandler } from "../support/aws.ts";
import { runPlugin } from "../support/cli.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";
import { createServiceAccount, freshNamespace, requestToken, sandboxClient } from "../support/kube.ts";
import { type Sandbox, sandboxRegion, withSandbox } from "../support/sandbox.ts";
import type { ServerProcess } from "../support/server_process.ts";
import { startSigner } from "../support/signer.ts";
import { installCrds } from "../support/crds.ts";
import { createSetupAndWait } from "../support/irsa_setup.ts";
import { startDaemon } from "../support/daemon.ts";
import { createNamespace } from "../support/kube.ts";
import { crdGroup, crdVersion, systemNamespace } from "../../lib/names.ts";
import { createSigningKey } from "../support/kms.ts";
import { freePort } from "../support/server_process.ts";

interface InitJson {
  issuer: string;
  keyIds: string[];
  apiserver: { flags: string[] };
  signer?: { kind: string; path: string; content: string };
}

// The tokens here are for STS, so the review names that audience (the apiserver's own are its issuers).
async function tokenReview(kube: KubeClient, token: string): Promise<boolean> {
  const out = await kube.create<{ status: { authenticated?: boolean } }>(
    { group: "authentication.k8s.io", resource: "tokenreviews" },
    { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, audiences: ["sts.amazonaws.com"] } },
  );
  return out.status.authenticated === true;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function latency(n: number, call: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

async function initKms(sandbox: Sandbox, bucket: string, keys: string[]): Promise<InitJson> {
  const run = await runPlugin(
    [
      "init",
      "--bucket",
      bucket,
      "--key-source",
      "kms",
      ...keys.flatMap((k) => ["--kms-key", k]),
      "--distro",
      "raw",
      "-o",
      "json",
    ],
    { env: sandbox.env },
  );
  equal(run.code, 0, run.stderr);
  ok(!/PRIVATE KEY/.test(run.stdout + run.stderr));
  return JSON.parse(run.stdout) as InitJson;
}

async function publishedJwks(sandbox: Sandbox, bucket: string): Promise<{ keys: { kid: string }[] }> {
  const res = await sandbox.moto!.fetch(`/${bucket}/keys.json`);
  equal(res.status, 200);
  return await res.json();
}

Deno.test({
  name: "signer e2e: kube-apiserver signs with a KMS key through kubectl irsa signer",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const aws = await sandboxAws(sandbox);
      const kms = await aws.kms();
      const bucket = "signer-oidc";
      const { keyId: key1, kid: kid1 } = await createSigningKey(kms);
      const { keyId: key2, kid: kid2 } = await createSigningKey(kms);
      const ns = await freshNamespace(kube, "signer");
      await createServiceAccount(kube, ns, "app");
      const token = (expirationSeconds = 3600) =>
        requestToken(kube, { namespace: ns, serviceAccount: "app" }, { expirationSeconds });
      const fileKeyLatency = await latency(200, () => token());

      // Private keys on this machine's disk before kubectl-irsa ran: the harness's own (the apiserver's old key,
      // TLS keys). Whatever init or the signer adds is searched for afterwards.
      const keyFiles = async () => {
        const found: string[] = [];
        const walk = async (dir: string) => {
          for await (const e of Deno.readDir(dir)) {
            const path = `${dir}/${e.name}`;
            if (e.isDirectory) await walk(path);
            else if (e.isFile && (await Deno.readTextFile(path).catch(() => "")).includes("PRIVATE KEY")) {
              found.push(path);
            }
          }
        };
        await walk(sandbox.dir);
        return found.sort();
      };
      const keyFilesBefore = await keyFiles();
      let init!: InitJson;
      await t.step(
        "init --key-source kms publishes the KMS key's kid and prints the signer and the flags",
        async () => {
          init = await initKms(sandbox, bucket, [key1]);
          deepStrictEqual(init.keyIds.includes(kid1), true);
          ok((await publishedJwks(sandbox, bucket)).keys.some((k) => k.kid === kid1));
          ok(init.apiserver.flags.includes("--service-account-signing-endpoint=/run/kubectl-irsa/signer.sock"));
          ok(
            !init.apiserver.flags.some((f) => /^--service-account(-signing)?-key-file=/.test(f)),
            init.apiserver.flags.join(" "),
          );
          equal(init.signer?.kind, "systemd");
          ok(init.signer?.content.includes(`--kms-key=${key1}`));
          // A second run with the same keys changes nothing.
          const again = await runPlugin(
            ["init", "--bucket", bucket, "--key-source", "kms", "--kms-key", key1, "--distro", "raw", "-o", "json"],
            { env: sandbox.env },
          );
          equal(again.code, 0, again.stderr);
          deepStrictEqual(again.writes, []);
        },
      );

      // KMS is reached through a proxy the test can make hang or close.
      const proxyPort = freePort();
      let proxy = await startFaultProxy(sandbox, { faultRate: 0, holdMs: 0, port: proxyPort });
      const socket = `${sandbox.dir}/signer.sock`;
      const signerEnv = { AWS_ENDPOINT_URL_KMS: proxy.endpoint, AWS_CA_BUNDLE: sandbox.caPath };
      const oldKeyFile = sandbox.apiserver.flags.keyFiles[0]!;
      let signer: ServerProcess = await startSigner(
        sandbox,
        socket,
        ["--kms-key", key1, "--verify-key-file", oldKeyFile, "--refresh-hint", "2s", "--kms-timeout", "1500ms"],
        { env: signerEnv },
      );
      const tokenBefore = await token();
      const doctorCheck = async (id: string) => {
        const run = await runPlugin(["doctor", "-o", "json"], { env: sandbox.env });
        const check = (JSON.parse(run.stdout) as { checks: { id: string; ok: boolean; detail: string }[] }).checks
          .find((c) => c.id === id);
        ok(check, `doctor has a ${id} check: ${run.stdout}`);
        return check;
      };
      try {
        await t.step("doctor: before the switch the signer check fails, naming the key file", async () => {
          const check = await doctorCheck("signer");
          equal(check.ok, false);
          ok(check.detail.includes("still signs with a key file"), check.detail);
        });

        await t.step("the apiserver, restarted with the printed flags, signs with the KMS key", async () => {
          // The printed socket path is the host's well-known one; the test's signer listens in the sandbox folder.
          const flags = flagsFromInit(init.apiserver.flags, sandbox.apiserver.flags);
          await sandbox.apiserver.restart({ ...flags, signingEndpoint: socket });
          const jwt = await token();
          equal(decodeProtectedHeader(jwt).kid, kid1);
          equal(decodeProtectedHeader(jwt).alg, "RS256");
          const anon = anonymousFetcher(sandbox);
          const jwks = await (await anon.fetcher(`${init.issuer}/keys.json`)).json();
          anon.close();
          const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks), {
            issuer: init.issuer,
            audience: "sts.amazonaws.com",
          });
          equal(payload.sub, `system:serviceaccount:${ns}:app`);
          ok(await tokenReview(kube, await token(3600)));
          // A token signed with the apiserver's old file key still verifies: the signer lists that key.
          ok(await tokenReview(kube, tokenBefore));
          const check = await doctorCheck("signer");
          ok(check.ok, check.detail);
        });

        await t.step("STS accepts the KMS-signed token and its credentials write to S3", async () => {
          const bind = await runPlugin(
            ["bind", "sa", "app", "-n", ns, "--policy", "AmazonS3FullAccess", "-o", "json"],
            {
              env: sandbox.env,
            },
          );
          equal(bind.code, 0, bind.stderr);
          const roleArn = JSON.parse(bind.stdout).roleArn as string;
          const handler = sandboxHttpHandler(sandbox.caPem);
          const sts = new STSClient({
            region: sandboxRegion,
            endpoint: sandbox.moto!.endpoint,
            requestHandler: handler,
          });
          const out = await sts.send(
            new AssumeRoleWithWebIdentityCommand({
              RoleArn: roleArn,
              RoleSessionName: "t",
              WebIdentityToken: await token(),
            }),
          );
          const c = out.Credentials!;
          const s3 = new S3Client({
            region: sandboxRegion,
            endpoint: sandbox.moto!.endpoint,
            forcePathStyle: true,
            requestHandler: handler,
            credentials: {
              accessKeyId: c.AccessKeyId!,
              secretAccessKey: c.SecretAccessKey!,
              sessionToken: c.SessionToken!,
            },
          });
          const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "written-by-kms-token", Body: "ok" }));
          equal(put.$metadata.httpStatusCode, 200);
          sts.destroy();
          s3.destroy();
        });

        await t.step("no private key material in the cluster, the setup record or the signer's log", async () => {
          const secrets = await kube.list<
            { metadata: { namespace: string; name: string }; data?: Record<string, string> }
          >(
            { resource: "secrets" },
          );
          for (const s of secrets) {
            for (const v of Object.values(s.data ?? {})) {
              ok(!/PRIVATE KEY/.test(atob(v)), `Secret ${s.metadata.namespace}/${s.metadata.name} holds a private key`);
            }
          }
          const configMaps = await kube.list<{ metadata: { name: string }; data?: Record<string, string> }>(
            { resource: "configmaps" },
          );
          for (const c of configMaps) ok(!/PRIVATE KEY/.test(JSON.stringify(c.data ?? {})), c.metadata.name);
          const log = await Deno.readTextFile(signer.logPath);
          ok(!/PRIVATE KEY|"d":/.test(log));
          deepStrictEqual(await keyFiles(), keyFilesBefore, "init and the signer wrote no private key to disk");
          ok(log.includes(kid1), "the signer logs the kid it signs with");
        });

        await t.step("sign latency through TokenRequest", async () => {
          const kmsLatency = await latency(200, () => token());
          console.log(
            `TokenRequest (n=200): KMS signer p50 ${kmsLatency.p50.toFixed(1)} ms, p99 ${
              kmsLatency.p99.toFixed(1)
            } ms; ` +
              `file key p50 ${fileKeyLatency.p50.toFixed(1)} ms, p99 ${fileKeyLatency.p99.toFixed(1)} ms`,
          );
        });

        await t.step("KMS hanging: TokenRequest fails with the signer's error, then recovers", async () => {
          proxy.setLatency(60_000);
          const t0 = performance.now();
          await rejects(token(), (e: Error) => {
            console.log(
              `KMS hanging: TokenRequest failed after ${(performance.now() - t0).toFixed(0)} ms: ${e.message}`,
            );
            return /Unavailable/.test(e.message) && /KMS/.test(e.message);
          });
          proxy.setLatency(0);
          equal(decodeProtectedHeader(await token()).kid, kid1);
        });

        await t.step("KMS refusing connections: TokenRequest fails, then recovers on the same address", async () => {
          await proxy.close();
          const t0 = performance.now();
          await rejects(token(), (e: Error) => {
            console.log(
              `KMS refusing: TokenRequest failed after ${(performance.now() - t0).toFixed(0)} ms: ${e.message}`,
            );
            return /Unavailable/.test(e.message);
          });
          proxy = await startFaultProxy(sandbox, { faultRate: 0, holdMs: 0, port: proxyPort });
          equal(decodeProtectedHeader(await token()).kid, kid1);
        });

        await t.step("rotation: a second KMS key signs, old tokens verify until the first is retired", async () => {
          const old = await token();
          const both = await initKms(sandbox, bucket, [key2, key1]);
          deepStrictEqual(new Set(both.keyIds), new Set([kid1, kid2, ...both.keyIds]));
          const kids = (await publishedJwks(sandbox, bucket)).keys.map((k) => k.kid);
          ok(kids.includes(kid1) && kids.includes(kid2), kids.join(","));
          await signer.stop();
          signer = await startSigner(sandbox, socket, ["--kms-key", key2, "--kms-key", key1, "--refresh-hint", "2s"], {
            env: signerEnv,
          });
          const fresh = await token();
          equal(decodeProtectedHeader(fresh).kid, kid2);
          ok(await tokenReview(kube, fresh));
          ok(await tokenReview(kube, old), "a token of the first key verifies while it is listed");
          const jwks = createLocalJWKSet(await publishedJwks(sandbox, bucket) as never);
          await jwtVerify(old, jwks);
          await jwtVerify(fresh, jwks);

          // Retire the first key: init drops its kid, the signer stops listing it.
          const retired = await initKms(sandbox, bucket, [key2]);
          ok(!retired.keyIds.includes(kid1));
          ok(!(await publishedJwks(sandbox, bucket)).keys.some((k) => k.kid === kid1));
          await signer.stop();
          signer = await startSigner(sandbox, socket, ["--kms-key", key2, "--refresh-hint", "2s"], { env: signerEnv });
          // The apiserver re-reads the keys on the signer's refresh hint.
          const deadline = Date.now() + 30_000;
          while (await tokenReview(kube, old) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
          equal(await tokenReview(kube, old), false, "a retired key's token is refused");
          ok(await tokenReview(kube, await token()));
        });

        await t.step(
          "kms mode for a distribution that passes its own key files is refused, with no AWS write",
          async () => {
            // kubeadm, k3s, RKE2 and kind pass --service-account-key-file themselves, which kube-apiserver refuses beside
            // the signing endpoint even with an empty value; --distro by flag is a usage error before any connection.
            for (const distro of ["kubeadm", "k3s", "rke2", "kind"]) {
              const seen = proxy.requests.length;
              const run = await runPlugin(
                ["init", "--bucket", bucket, "--key-source", "kms", "--kms-key", key2, "--distro", distro],
                { env: { ...sandbox.env, AWS_ENDPOINT_URL: proxy.endpoint } },
              );
              equal(run.code, 2, `${distro}: ${run.stderr}`);
              ok(run.stderr.includes("refuses them beside the signing endpoint"), run.stderr);
              equal(proxy.requests.length, seen, `${distro}: no AWS request reached the proxy`);
            }
          },
        );

        await t.step("the daemon: an IRSASetup with keySource kms publishes the KMS key's kid", async () => {
          await installCrds(kube);
          await createNamespace(kube, systemNamespace);
          const daemon = await startDaemon(sandbox, ["--namespace", systemNamespace, "--no-webhook"]);
          try {
            const status = await createSetupAndWait(kube, "kms", {
              cleanup: false,
              discovery: { s3: { region: sandboxRegion, bucketName: "signer-daemon-oidc" } },
              keySource: "kms",
              kmsKeys: [key2],
            });
            const flags = status.apiserverFlags ?? [];
            ok(flags.includes("--service-account-signing-endpoint=/run/kubectl-irsa/signer.sock"), flags.join(" "));
            deepStrictEqual((await publishedJwks(sandbox, "signer-daemon-oidc")).keys.map((k) => k.kid), [kid2]);
            // A spec without kmsKeys is refused by the CRD's own rule.
            await rejects(
              kube.create(
                { group: crdGroup, version: crdVersion, resource: "irsasetups", namespace: systemNamespace },
                {
                  apiVersion: `${crdGroup}/${crdVersion}`,
                  kind: "IRSASetup",
                  metadata: { name: "kms-bad" },
                  spec: {
                    cleanup: false,
                    discovery: { s3: { region: sandboxRegion, bucketName: "b-oidc" } },
                    keySource: "kms",
                  },
                },
              ),
              /kmsKeys is required with keySource kms/,
            );
          } finally {
            await daemon.stop();
          }
        });
      } finally {
        await signer.stop();
        await proxy.close();
        aws.destroy();
      }
    }),
});
