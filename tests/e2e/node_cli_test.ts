// The CLI path on the real node: `kubectl irsa install`, `init` with the cluster's own keys, the apiserver
// restarted with the printed flags, `bind`, then an ordinary Deployment using the ServiceAccount. Its pod carries
// the webhook's env and the kubelet-projected token (read from the node's disk and verified against the JWKS
// fetched anonymously from the issuer), and s3-echoer in it writes to S3 through a real AWS SDK.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { createLocalJWKSet, jwtVerify } from "jose";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { sandboxAws } from "../support/aws.ts";
import { flagsFromInit } from "../support/apiserver_flags.ts";
import { runPlugin } from "../support/cli.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";
import { hostSnapshot } from "../support/host_state.ts";
import { nodeNetwork } from "../support/node.ts";
import {
  awsHostnames,
  figure,
  installDaemon,
  kubectlOk,
  listPods,
  podReady,
  pointAtEmulator,
  waitFor,
} from "../support/node_cluster.ts";
import { nodeImages } from "../support/node_images.ts";
import { withSandbox } from "../support/sandbox.ts";

const region = "eu-west-1";
const oidcBucket = "cli-node-oidc";
const echoBucket = "cli-node-echo";

Deno.test({
  name: "the CLI path on a real node: init, bind, and a Deployment's pods write to S3",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const hostBefore = await hostSnapshot(nodeNetwork.cgroupRoot);
    await withSandbox(async (sandbox) => {
      const proxy = await startFaultProxy(sandbox, {
        faultRate: 0,
        holdMs: 0,
        port: 443,
        dnsNames: awsHostnames(region, echoBucket),
      });
      const aws = await sandboxAws(sandbox);
      const env = { ...sandbox.env, AWS_ENDPOINT_URL: proxy.endpoint };
      const issuer = `${proxy.endpoint}/${oidcBucket}`;
      try {
        let roleArn = "";
        await t.step("install, init with the cluster's keys, apiserver restarted with the printed flags", async () => {
          const installed = await installDaemon(sandbox, proxy.endpoint);
          figure("install to both replicas Ready", installed.seconds);
          const init = await runPlugin(
            ["init", "--bucket", oidcBucket, "--issuer-url", issuer, "--key-source", "cluster", "-o", "json"],
            { env },
          );
          equal(init.code, 0, init.stderr);
          const printed = JSON.parse(init.stdout).apiserver.flags as string[];
          await sandbox.apiserver.restart(flagsFromInit(printed, sandbox.apiserver.flags));
          equal(sandbox.apiserver.flags.issuers[0], issuer);
        });

        await t.step("bind sa app -n demo --policy AmazonS3FullAccess", async () => {
          await kubectlOk(sandbox, ["create", "namespace", "demo"]);
          const bind = await runPlugin(
            ["bind", "sa", "app", "-n", "demo", "--policy", "AmazonS3FullAccess", "-o", "json"],
            { env },
          );
          equal(bind.code, 0, bind.stderr);
          roleArn = (JSON.parse(bind.stdout) as { roleArn: string }).roleArn;
          const rerun = await runPlugin(["bind", "sa", "app", "-n", "demo", "--policy", "AmazonS3FullAccess"], { env });
          equal(rerun.code, 0, rerun.stderr);
          deepStrictEqual(rerun.writes, [], "a rerun writes nothing");
        });

        await t.step("a Deployment of the ServiceAccount: env, projected token and an S3 write", async () => {
          await aws.s3.send(
            new CreateBucketCommand({ Bucket: echoBucket, CreateBucketConfiguration: { LocationConstraint: region } }),
          );
          await kubectlOk(sandbox, [
            "create",
            "configmap",
            "aws-ca",
            "-n",
            "demo",
            `--from-file=ca.pem=${sandbox.caPath}`,
          ]);
          const podSpec = {
            serviceAccountName: "app",
            containers: [{
              name: "echo",
              image: nodeImages.s3Echoer,
              imagePullPolicy: "IfNotPresent",
              command: ["sh", "-c", `echo written by a Deployment | /s3-echoer ${echoBucket} && exec sleep 3600`],
              env: [{ name: "AWS_DEFAULT_REGION", value: region }, { name: "ENABLE_IRP", value: "true" }],
            }],
          };
          pointAtEmulator(podSpec, { region, bucket: echoBucket, ip: sandbox.host, caConfigMap: "aws-ca" });
          const started = performance.now();
          await kubectlOk(
            sandbox,
            ["apply", "-n", "demo", "-f", "-"],
            JSON.stringify({
              apiVersion: "apps/v1",
              kind: "Deployment",
              metadata: { name: "echo" },
              spec: {
                replicas: 1,
                selector: { matchLabels: { app: "echo" } },
                template: { metadata: { labels: { app: "echo" } }, spec: podSpec },
              },
            }),
          );
          const key = await waitFor("the Deployment's object in S3", async () => {
            const objects = await aws.s3.send(new ListObjectsV2Command({ Bucket: echoBucket }));
            return objects.Contents?.[0]?.Key;
          }, 120_000);
          figure("Deployment applied to its object in S3", (performance.now() - started) / 1000);
          const body = await aws.s3.send(new GetObjectCommand({ Bucket: echoBucket, Key: key }));
          equal(await body.Body!.transformToString(), "written by a Deployment\n");

          const [pod] = await waitFor("the echo pod Ready", async () => {
            const pods = await listPods(sandbox, "demo", "app=echo");
            return pods.length === 1 && podReady(pods[0]!) ? pods : undefined;
          });
          const podEnv = Object.fromEntries((pod!.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
          equal(podEnv.AWS_ROLE_ARN, roleArn);
          const tokenPath = podEnv.AWS_WEB_IDENTITY_TOKEN_FILE!;
          const volume = pod!.spec.volumes?.find((v) => v.name === "aws-iam-token");
          ok(volume?.projected, "the projected token volume");
          // The token file as the kubelet wrote it, read on the node's disk.
          const file = `${sandbox.dir}/node/kubelet/root/pods/${pod!.metadata.uid}/volumes/kubernetes.io~projected/` +
            `aws-iam-token/${tokenPath.slice(tokenPath.lastIndexOf("/") + 1)}`;
          const token = (await Deno.readTextFile(file)).trim();
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
            const k8s = payload["kubernetes.io"] as { pod: { name: string; uid: string } };
            equal(k8s.pod.uid, pod!.metadata.uid);
          } finally {
            client.close();
          }
          // The SDK in the pod sent that ServiceAccount's token to STS for the bound role.
          const sts = proxy.requests.filter((r) => r.action === "AssumeRoleWithWebIdentity");
          equal(sts.length, 1);
          equal(sts[0]!.form!.get("RoleArn"), roleArn);
          equal(sts[0]!.remote, pod!.status.podIP);
        });
      } finally {
        aws.destroy();
        await proxy.close();
      }
    }, { node: true, verbose: true });

    await t.step("after stop, the host is as it was before the node started", async () => {
      deepStrictEqual(await hostSnapshot(nodeNetwork.cgroupRoot), hostBefore);
    });
  },
});
