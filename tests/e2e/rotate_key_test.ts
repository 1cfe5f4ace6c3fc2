// `kubectl irsa rotate-key` end to end against the real kube-apiserver and moto: a full rotation in generate
// mode with the apiserver restarted as an admin would, tokens checked the way STS does at every stage, and
// cluster mode where init and the daemon publish the apiserver's new keys on their own.
import { deepStrictEqual, equal, notEqual, ok, rejects } from "node:assert/strict";
import { decodeProtectedHeader } from "jose";
import { parse as parseYaml } from "yaml";
import { parseJwks } from "../../lib/discovery.ts";
import { generateRsaKeyPair, jwkFromPublicPem } from "../../lib/keys.ts";
import { crdGroup, crdVersion, keySecret, previousKeySecret, setupRecord, systemNamespace } from "../../lib/names.ts";
import { ChainError, verifyLikeSts } from "../../lib/web_identity.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { flagsFromInit } from "../support/apiserver_flags.ts";
import { anonymousFetcher } from "../support/aws.ts";
import { runPlugin } from "../support/cli.ts";
import { installCrds } from "../support/crds.ts";
import { startDaemon, unboundedDrift } from "../support/daemon.ts";
import { initAndRestart } from "../support/irsa_setup.ts";
import { createNamespace, createServiceAccount, freshNamespace, requestToken, sandboxClient } from "../support/kube.ts";
import { type Sandbox, withSandbox } from "../support/sandbox.ts";

async function publishedKids(sandbox: Sandbox, bucket: string): Promise<string[]> {
  const res = await sandbox.moto!.fetch(`/${bucket}/keys.json`);
  return parseJwks(await res.text()).keys.map((k) => k.kid);
}

async function secretKid(kube: KubeClient, name: string): Promise<string | undefined> {
  const s = await kube.get<{ data: Record<string, string> }>({ resource: "secrets", namespace: "kube-system", name });
  return s ? (await jwkFromPublicPem(atob(s.data[keySecret.publicKey]!))).kid : undefined;
}

function kidOf(token: string): string {
  return String(decodeProtectedHeader(token).kid);
}

async function rotate(sandbox: Sandbox, args: string[]) {
  return await runPlugin(["rotate-key", ...args], { env: sandbox.env });
}

function json<T = Record<string, unknown>>(run: { code: number; stdout: string; stderr: string }): T {
  equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as T;
}

function refused(run: { code: number; stdout: string; stderr: string }, says: string): void {
  equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
  equal(run.stdout, "");
  ok(run.stderr.startsWith("error: ") && run.stderr.includes(says), run.stderr);
}

Deno.test({
  name: "rotate-key e2e: a full rotation in generate mode never rejects a valid token",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const anon = anonymousFetcher(sandbox);
      const verify = (token: string) => verifyLikeSts(token, { fetcher: anon.fetcher });
      const bucket = "rotate-oidc";
      const outDir = await Deno.makeTempDir({ dir: sandbox.dir, prefix: "keys-" });
      try {
        const ns = await freshNamespace(kube);
        await createServiceAccount(kube, ns, "app");
        const mint = () => requestToken(kube, { namespace: ns, serviceAccount: "app" }, { expirationSeconds: 86400 });
        let tokenA = "";
        let kidA = "";
        let newKid = "";

        await t.step("init generates a key and token A carries it", async () => {
          const issuer = `${sandbox.moto!.endpoint}/${bucket}`;
          const init = json<{ apiserver: { flags: string[] } }>(
            await runPlugin(
              [
                "init",
                "--bucket",
                bucket,
                "--issuer-url",
                issuer,
                "--key-source",
                "generate",
                "--out-dir",
                outDir,
                "-o",
                "json",
              ],
              { env: sandbox.env },
            ),
          );
          await sandbox.apiserver.restart(flagsFromInit(init.apiserver.flags, sandbox.apiserver.flags));
          tokenA = await mint();
          kidA = kidOf(tokenA);
          equal(kidA, await secretKid(kube, keySecret.name));
          await verify(tokenA);
          equal(json<{ stage: string }>(await rotate(sandbox, ["status", "-o", "json"])).stage, "none");
          refused(await rotate(sandbox, ["verify"]), "rotate-key prepare");
        });

        await t.step("prepare --dry-run prints the plan and changes nothing", async () => {
          const run = await rotate(sandbox, ["prepare", "--out-dir", outDir, "--dry-run"]);
          equal(run.code, 0, run.stderr);
          ok(run.stdout.startsWith("Plan: 7 changes (dry run, nothing was changed)"), run.stdout);
          deepStrictEqual(run.writes, []);
          deepStrictEqual(await publishedKids(sandbox, bucket), [kidA]);
          equal(await secretKid(kube, keySecret.name), kidA);
          equal(await secretKid(kube, previousKeySecret.name), undefined);
          ok(!run.stdout.includes("PRIVATE KEY"), "no key material is printed");
        });

        let prepared: {
          newKid: string;
          oldKids: string[];
          apiserver: { flags: string[] };
          keyFiles: { privatePath: string };
        };
        await t.step("prepare stores the new key, keeps the old one and publishes both", async () => {
          const run = await rotate(sandbox, ["prepare", "--out-dir", outDir, "-o", "json"]);
          prepared = json(run);
          newKid = prepared.newKid;
          notEqual(newKid, kidA);
          deepStrictEqual(prepared.oldKids, [kidA]);
          ok(!run.stdout.includes("PRIVATE KEY") && !run.stderr.includes("PRIVATE KEY"));
          deepStrictEqual((await publishedKids(sandbox, bucket)).sort(), [kidA, newKid].sort());
          equal(await secretKid(kube, keySecret.name), newKid, "the seed's Secret holds the new signing key");
          equal(await secretKid(kube, previousKeySecret.name), kidA);
          equal((await Deno.stat(prepared.keyFiles.privatePath)).mode! & 0o777, 0o600);
          ok(prepared.apiserver.flags.includes(`--service-account-signing-key-file=${prepared.keyFiles.privatePath}`));
          ok(
            prepared.apiserver.flags.includes(`--service-account-key-file=${outDir}/irsa-manager.pub`),
            "old key kept",
          );
          const state = await kube.get<{ data: Record<string, string> }>({
            resource: "configmaps",
            namespace: setupRecord.namespace,
            name: setupRecord.name,
          });
          equal(JSON.parse(state!.data["rotation.json"]!).stage, "prepared");

          const again = await rotate(sandbox, ["prepare", "--out-dir", outDir, "-o", "json"]);
          equal(json<{ newKid: string; resumed: boolean }>(again).newKid, newKid, "a rerun resumes");
          deepStrictEqual(again.writes, []);
        });

        await t.step("before the switch: verify and retire are refused, even retire --force", async () => {
          refused(await rotate(sandbox, ["verify"]), `still signs tokens with key "${kidA}"`);
          refused(await rotate(sandbox, ["retire", "--force"]), "signs tokens with it right now");
          deepStrictEqual((await publishedKids(sandbox, bucket)).sort(), [kidA, newKid].sort());
        });

        let tokenB = "";
        await t.step("after the restart token B carries the new kid; A and B both verify like STS", async () => {
          await sandbox.apiserver.restart(flagsFromInit(prepared.apiserver.flags, sandbox.apiserver.flags));
          tokenB = await mint();
          equal(kidOf(tokenB), newKid);
          equal((await verify(tokenB)).kid, newKid);
          equal((await verify(tokenA)).kid, kidA, "a token minted before the rotation keeps verifying");
          const v = json<{ tokenKid: string; switchedAt: string; retireAllowedAt: string }>(
            await rotate(sandbox, ["verify", "-o", "json"]),
          );
          equal(v.tokenKid, newKid);
          equal(Date.parse(v.retireAllowedAt) - Date.parse(v.switchedAt), 25 * 3600_000);
        });

        await t.step("retiring early is refused and says when it becomes allowed", async () => {
          refused(await rotate(sandbox, ["retire"]), "too early to retire");
          const status = json<{ stage: string; retireAllowedAt: string }>(
            await rotate(sandbox, ["status", "-o", "json"]),
          );
          equal(status.stage, "switched");
          ok(Date.parse(status.retireAllowedAt) > Date.now() + 24 * 3600_000);
          await verify(tokenA);
        });

        await t.step("retire --grace 0s drops the old key: token A fails at the kid link, B verifies", async () => {
          const dry = await rotate(sandbox, ["retire", "--grace", "0s", "--dry-run"]);
          equal(dry.code, 0, dry.stderr);
          deepStrictEqual(dry.writes, []);
          deepStrictEqual((await publishedKids(sandbox, bucket)).sort(), [kidA, newKid].sort());

          const r = json<{ retiredKids: string[]; publishedKids: string[] }>(
            await rotate(sandbox, ["retire", "--grace", "0s", "-o", "json"]),
          );
          deepStrictEqual(r.retiredKids, [kidA]);
          deepStrictEqual(await publishedKids(sandbox, bucket), [newKid]);
          await rejects(verify(tokenA), (e: unknown) => e instanceof ChainError && e.link === "kid");
          equal((await verify(tokenB)).kid, newKid);
          equal(await secretKid(kube, previousKeySecret.name), undefined, "the retired private key is deleted");
          equal(json<{ stage: string }>(await rotate(sandbox, ["status", "-o", "json"])).stage, "retired");
          const again = await rotate(sandbox, ["retire"]);
          equal(again.code, 0, again.stderr);
          deepStrictEqual(again.writes, []);
        });
      } finally {
        anon.close();
        kube.close();
      }
    }),
});

Deno.test({
  name: "rotate-key e2e: cluster mode, where init and the daemon publish the apiserver's new keys",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const anon = anonymousFetcher(sandbox);
      const verify = (token: string) => verifyLikeSts(token, { fetcher: anon.fetcher });
      const bucket = "cluster-rotate";
      try {
        const { issuer } = await initAndRestart(sandbox, bucket);
        const ns = await freshNamespace(kube);
        await createServiceAccount(kube, ns, "app");
        const mint = () => requestToken(kube, { namespace: ns, serviceAccount: "app" });
        const tokenA = await mint();
        const kidA = kidOf(tokenA);
        deepStrictEqual(await publishedKids(sandbox, bucket), [kidA]);
        const oldKeyFile = sandbox.apiserver.flags.keyFiles[0]!;

        const next = await generateRsaKeyPair();
        const newKid = (await jwkFromPublicPem(next.publicPem)).kid;
        const newPub = await sandbox.writeFile("next.pub", next.publicPem);
        const newKey = await sandbox.writeFile("next.key", next.privatePem);

        await t.step("prepare refuses while the apiserver serves no new key", async () => {
          refused(await rotate(sandbox, ["prepare"]), "serves no new key");
        });

        await t.step("init after adding a --service-account-key-file publishes the new kid", async () => {
          await sandbox.apiserver.restart({
            ...structuredClone(sandbox.apiserver.flags),
            keyFiles: [...sandbox.apiserver.flags.keyFiles, newPub],
          });
          const run = await runPlugin(["init", "--bucket", bucket, "--issuer-url", issuer], { env: sandbox.env });
          equal(run.code, 0, run.stderr);
          deepStrictEqual((await publishedKids(sandbox, bucket)).sort(), [kidA, newKid].sort());
        });

        await t.step(
          "prepare finds the new kid although it is published already, then the switch verifies",
          async () => {
            const p = json<{ newKid: string; oldKids: string[]; apiserver: { notes: string[] } }>(
              await rotate(sandbox, ["prepare", "-o", "json"]),
            );
            equal(p.newKid, newKid);
            deepStrictEqual(p.oldKids, [kidA]);
            ok(p.apiserver.notes.some((n) => n.includes("--service-account-signing-key-file")));
            await sandbox.apiserver.restart({ ...structuredClone(sandbox.apiserver.flags), signingKeyFile: newKey });
            json(await rotate(sandbox, ["verify", "-o", "json"]));
            await verify(tokenA);
            equal((await verify(await mint())).kid, newKid);
          },
        );

        await t.step("retire waits until the old key file is gone from the apiserver", async () => {
          refused(await rotate(sandbox, ["retire", "--grace", "0s"]), "still verifies tokens with");
          await sandbox.apiserver.restart({
            ...structuredClone(sandbox.apiserver.flags),
            keyFiles: sandbox.apiserver.flags.keyFiles.filter((f) => f !== oldKeyFile),
          });
          json(await rotate(sandbox, ["retire", "--grace", "0s", "-o", "json"]));
          deepStrictEqual(await publishedKids(sandbox, bucket), [newKid]);
          await rejects(verify(tokenA), (e: unknown) => e instanceof ChainError && e.link === "kid");
        });

        await t.step("the daemon publishes a key added to the apiserver within one resync", async () => {
          await installCrds(kube);
          await createNamespace(kube, systemNamespace);
          const resyncMs = 3000;
          const daemon = await startDaemon(sandbox, [
            "--namespace",
            systemNamespace,
            "--no-webhook",
            "--resync-period",
            "3s",
            ...unboundedDrift,
          ]);
          try {
            await kube.create(
              { group: crdGroup, version: crdVersion, resource: "irsasetups", namespace: systemNamespace },
              parseYaml(`
apiVersion: ${crdGroup}/${crdVersion}
kind: IRSASetup
metadata:
  name: irsa-init
  namespace: ${systemNamespace}
spec:
  cleanup: false
  keySource: cluster
  discovery:
    s3:
      region: eu-west-1
      bucketName: ${bucket}
`),
            );
            await eventually(async () => {
              const o = await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
                `/apis/${crdGroup}/${crdVersion}/namespaces/${systemNamespace}/irsasetups/irsa-init`,
              );
              return o?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
            }, "IRSASetup Ready");
            deepStrictEqual(await publishedKids(sandbox, bucket), [newKid], "a retired key is not published again");

            const third = await generateRsaKeyPair();
            const thirdKid = (await jwkFromPublicPem(third.publicPem)).kid;
            await sandbox.apiserver.restart({
              ...structuredClone(sandbox.apiserver.flags),
              keyFiles: [...sandbox.apiserver.flags.keyFiles, await sandbox.writeFile("third.pub", third.publicPem)],
            });
            const restarted = Date.now();
            // One resync, plus the daemon's backoff while the apiserver was down and the S3 write.
            await eventually(
              async () => (await publishedKids(sandbox, bucket)).includes(thirdKid),
              "the daemon to publish the new kid",
              resyncMs + 10_000,
            );
            console.error(`daemon published the new key ${Date.now() - restarted} ms after the apiserver restart`);
            deepStrictEqual((await publishedKids(sandbox, bucket)).sort(), [newKid, thirdKid].sort());
            const state = await kube.get<{ data: Record<string, string> }>({
              resource: "configmaps",
              namespace: setupRecord.namespace,
              name: setupRecord.name,
            });
            equal(JSON.parse(state!.data["rotation.json"]!).stage, "retired", "init's apply keeps the rotation state");
          } finally {
            await daemon.stop();
          }
        });
      } finally {
        anon.close();
        kube.close();
      }
    }),
});

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}
