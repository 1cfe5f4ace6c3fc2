// The KMS-backed signer on the real node: the daemon is installed while the apiserver still signs with its key
// file, then `init --key-source kms` and the apiserver restarted with the printed flags and `kubectl irsa signer`
// beside it. The kubelet's projected token for a new pod is then signed by KMS (its kid is the KMS key's), verifies
// against the published JWKS, and s3-echoer in the pod writes to S3 with it; a daemon pod's API token, which the
// old key signed, still authenticates because the signer lists that key.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { sandboxAws } from "../support/aws.ts";
import { flagsFromInit } from "../support/apiserver_flags.ts";
import { runPlugin } from "../support/cli.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";
import {
  awsHostnames,
  echoDeployment,
  figure,
  installDaemon,
  kubectlOk,
  withNodeSandbox,
} from "../support/node_cluster.ts";
import { startSigner } from "../support/signer.ts";
import { createSigningKey } from "../support/kms.ts";
import type { ServerProcess } from "../support/server_process.ts";

const region = "eu-west-1";
const oidcBucket = "signer-node-oidc";
const echoBucket = "signer-node-echo";

Deno.test({
  name: "the KMS signer on a real node: a pod's projected token is KMS-signed and s3-echoer writes with it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await withNodeSandbox(t, async (sandbox) => {
      const proxy = await startFaultProxy(sandbox, {
        faultRate: 0,
        holdMs: 0,
        port: 443,
        dnsNames: awsHostnames(region, echoBucket),
      });
      const aws = await sandboxAws(sandbox);
      const env = { ...sandbox.env, AWS_ENDPOINT_URL: proxy.endpoint };
      const issuer = `${proxy.endpoint}/${oidcBucket}`;
      const kms = await aws.kms();
      const { keyId, kid } = await createSigningKey(kms);
      const socket = `${sandbox.dir}/signer.sock`;
      let signer: ServerProcess | undefined;
      try {
        let daemonPods: string[] = [];
        await t.step("install, then init --key-source kms and the apiserver switched to the signer", async () => {
          const installed = await installDaemon(sandbox, proxy.endpoint);
          daemonPods = installed.pods.map((p) => p.metadata.uid);
          figure("install to both replicas Ready", installed.seconds);
          const init = await runPlugin(
            [
              "init",
              "--bucket",
              oidcBucket,
              "--issuer-url",
              issuer,
              "--key-source",
              "kms",
              "--kms-key",
              keyId,
              "-o",
              "json",
            ],
            { env },
          );
          equal(init.code, 0, init.stderr);
          const result = JSON.parse(init.stdout) as { keyIds: string[]; apiserver: { flags: string[] } };
          ok(result.keyIds.includes(kid));
          // The signer runs on the host as the printed unit would; it keeps the apiserver's key file for old tokens.
          signer = await startSigner(sandbox, socket, [
            "--kms-key",
            keyId,
            "--verify-key-file",
            sandbox.apiserver.flags.keyFiles[0]!,
          ]);
          const flags = flagsFromInit(result.apiserver.flags, sandbox.apiserver.flags);
          await sandbox.apiserver.restart({ ...flags, signingEndpoint: socket });
          equal(sandbox.apiserver.flags.issuers[0], issuer);
          deepStrictEqual(sandbox.apiserver.flags.keyFiles, []);
        });

        await t.step("bind, and a Deployment's pod writes to S3 with its KMS-signed projected token", async () => {
          await kubectlOk(sandbox, ["create", "namespace", "demo"]);
          const bind = await runPlugin(
            ["bind", "sa", "app", "-n", "demo", "--policy", "AmazonS3FullAccess", "-o", "json"],
            { env },
          );
          equal(bind.code, 0, bind.stderr);
          const roleArn = (JSON.parse(bind.stdout) as { roleArn: string }).roleArn;
          const echo = await echoDeployment(sandbox, aws.s3, {
            namespace: "demo",
            bucket: echoBucket,
            region,
            message: "signed by KMS",
          });
          figure("Deployment applied to its object in S3 (KMS-signed token)", echo.seconds);
          equal(echo.body, "signed by KMS\n");
          const { pod, token } = echo;
          equal(echo.env.AWS_ROLE_ARN, roleArn);
          equal(decodeProtectedHeader(token).kid, kid, "the kubelet's token carries the KMS key's kid");
          const client = Deno.createHttpClient({ caCerts: [sandbox.caPem] });
          try {
            const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`, { client })).json();
            const jwks = await (await fetch(discovery.jwks_uri, { client })).json();
            const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
              issuer,
              audience: "sts.amazonaws.com",
              algorithms: ["RS256"],
            });
            equal(payload.sub, "system:serviceaccount:demo:app");
          } finally {
            client.close();
          }
          const sts = proxy.requests.filter((r) => r.action === "AssumeRoleWithWebIdentity");
          equal(sts.length, 1);
          equal(sts[0]!.form!.get("RoleArn"), roleArn);
          equal(sts[0]!.remote, pod.status.podIP);
        });

        await t.step("a daemon pod's API token, signed by the old key file, still authenticates", async () => {
          const uid = daemonPods[0]!;
          const volumes = `${sandbox.dir}/node/kubelet/root/pods/${uid}/volumes/kubernetes.io~projected`;
          let dir = "";
          for await (const e of Deno.readDir(volumes)) if (e.name.startsWith("kube-api-access-")) dir = e.name;
          const token = (await Deno.readTextFile(`${volumes}/${dir}/token`)).trim();
          ok(decodeProtectedHeader(token).kid !== kid, "written before the switch");
          const review = JSON.parse(
            await kubectlOk(
              sandbox,
              ["create", "-o", "json", "-f", "-"],
              JSON.stringify({
                apiVersion: "authentication.k8s.io/v1",
                kind: "TokenReview",
                spec: { token },
              }),
            ),
          );
          equal(review.status.authenticated, true, JSON.stringify(review.status));
        });
      } finally {
        await signer?.stop();
        await proxy.close();
        aws.destroy();
      }
    });
  },
});
