// The CLI path on the real node: `kubectl irsa install`, `init` with the cluster's own keys, the apiserver
// restarted with the printed flags, `bind`, then an ordinary Deployment using the ServiceAccount. Its pod carries
// the webhook's env and the kubelet-projected token (read from the node's disk and verified against the JWKS
// fetched anonymously from the issuer), and s3-echoer in it writes to S3 through a real AWS SDK. Then the guard:
// a pod cannot reach a host of ours behind another interface that the host itself reaches; and the Helm chart,
// with the image and AWS values, runs the same daemon after `kubectl irsa uninstall`.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { createLocalJWKSet, jwtVerify } from "jose";
import { sandboxAws } from "../support/aws.ts";
import { flagsFromInit } from "../support/apiserver_flags.ts";
import { runPlugin } from "../support/cli.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";
import { nodeNetwork } from "../support/node.ts";
import { ensureBinary } from "../support/go_build.ts";
import {
  awsHostnames,
  daemonSelector,
  echoDeployment,
  figure,
  getJson,
  installDaemon,
  kubectlOk,
  listPods,
  type Pod,
  podReady,
  sendJson,
  waitFor,
  withNodeSandbox,
} from "../support/node_cluster.ts";
import { nodeImages } from "../support/node_images.ts";

const region = "eu-west-1";

/** Packets the node's guard table has dropped so far. */
async function guardDrops(): Promise<number> {
  const out = await new Deno.Command("nft", { args: ["list", "table", "inet", nodeNetwork.guardTable] }).output();
  const text = new TextDecoder().decode(out.stdout);
  return [...text.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}
const oidcBucket = "cli-node-oidc";
const echoBucket = "cli-node-echo";

Deno.test({
  name: "the CLI path on a real node: init, bind, and a Deployment's pods write to S3",
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
          const echo = await echoDeployment(sandbox, aws.s3, {
            namespace: "demo",
            bucket: echoBucket,
            region,
            message: "written by a Deployment",
          });
          figure("Deployment applied to its object in S3", echo.seconds);
          equal(echo.body, "written by a Deployment\n");
          const { pod, token } = echo;
          equal(echo.env.AWS_ROLE_ARN, roleArn);
          const volume = pod.spec.volumes?.find((v) => v.name === "aws-iam-token");
          ok(volume?.projected, "the projected token volume");
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
            equal(k8s.pod.uid, pod.metadata.uid);
          } finally {
            client.close();
          }
          // The SDK in the pod sent that ServiceAccount's token to STS for the bound role.
          const sts = proxy.requests.filter((r) => r.action === "AssumeRoleWithWebIdentity");
          equal(sts.length, 1);
          equal(sts[0]!.form!.get("RoleArn"), roleArn);
          equal(sts[0]!.remote, pod.status.podIP);
        });

        await t.step(
          "pod traffic to any other interface is dropped by the guard; the host reaches the same server",
          async () => {
            // A test host of our own behind a veth pair: forwarding would reach it, the guard must not let it. Its
            // network namespace belongs to a process (unshare), not to `ip netns add`, which would remount /run/netns
            // shared and leave the pods' network namespaces impossible to remove.
            const outsideIp = "10.214.0.2";
            const run = (args: string[]) => new Deno.Command(args[0]!, { args: args.slice(1) }).output();
            const holder = new Deno.Command("unshare", { args: ["--net", "sleep", "600"] }).spawn();
            const inside = ["nsenter", `--net=/proc/${holder.pid}/ns/net`];
            let listener: Deno.ChildProcess | undefined;
            try {
              await waitFor("the outside network namespace", async () => {
                const [own, other] = await Promise.all([
                  Deno.readLink("/proc/self/ns/net"),
                  Deno.readLink(`/proc/${holder.pid}/ns/net`),
                ]);
                return own !== other;
              }, 10_000);
              for (
                const args of [
                  ["ip", "link", "add", "kirsa-out0", "type", "veth", "peer", "name", "kirsa-out1"],
                  ["ip", "link", "set", "kirsa-out1", "netns", String(holder.pid)],
                  ["ip", "addr", "add", "10.214.0.1/30", "dev", "kirsa-out0"],
                  ["ip", "link", "set", "kirsa-out0", "up"],
                  [...inside, "ip", "addr", "add", `${outsideIp}/30`, "dev", "kirsa-out1"],
                  [...inside, "ip", "link", "set", "kirsa-out1", "up"],
                  [...inside, "ip", "route", "add", "default", "via", "10.214.0.1"],
                ]
              ) {
                const out = await run(args);
                ok(out.success, `${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
              }
              listener = new Deno.Command(inside[0]!, {
                args: [
                  ...inside.slice(1),
                  Deno.execPath(),
                  "eval",
                  `const l = Deno.listen({ hostname: "${outsideIp}", port: 8080 });
                 for await (const c of l) { await c.write(new TextEncoder().encode("outside\\n")); c.close(); }`,
                ],
                stdout: "null",
                stderr: "null",
              }).spawn();
              const fromHost = await waitFor("the outside server reachable from the host", async () => {
                const c = await Deno.connect({ hostname: outsideIp, port: 8080 });
                const buf = new Uint8Array(16);
                const n = await c.read(buf);
                c.close();
                return new TextDecoder().decode(buf.subarray(0, n ?? 0));
              }, 20_000);
              equal(fromHost, "outside\n");
              const guardBefore = await guardDrops();
              await kubectlOk(sandbox, [
                "run",
                "probe",
                "-n",
                "demo",
                `--image=${nodeImages.s3Echoer}`,
                "--restart=Never",
                "--image-pull-policy=IfNotPresent",
                "--command",
                "--",
                "sh",
                "-c",
                `nc -w 3 ${outsideIp} 8080 </dev/null; echo "nc exit $?"`,
              ]);
              const phase = await waitFor("the probe pod to finish", async () => {
                const [pod] = await listPods(sandbox, "demo", "run=probe");
                const p = pod?.status.phase;
                return p === "Succeeded" || p === "Failed" ? p : undefined;
              });
              equal(phase, "Succeeded");
              const log = await kubectlOk(sandbox, ["logs", "-n", "demo", "probe"]);
              ok(!log.includes("outside"), `the pod reached the outside host: ${log}`);
              ok(/nc exit [1-9]/.test(log), log);
              ok((await guardDrops()) > guardBefore, "the guard counted the dropped packets");
            } finally {
              for (const p of [listener, holder]) {
                if (!p) continue;
                try {
                  p.kill("SIGKILL");
                } catch { /* gone */ }
                await p.status;
              }
              // The namespace goes with its last process, and the veth pair with it; deleting is the fallback.
              await run(["ip", "link", "delete", "kirsa-out0"]);
            }
          },
        );

        await t.step(
          "the Helm chart with the image and AWS values runs the same daemon; its webhook mutates",
          async () => {
            const run = await runPlugin(["uninstall"], { env });
            equal(run.code, 0, run.stderr);
            await waitFor("the daemon namespace gone", async () => {
              return (await getJson(sandbox, "/api/v1/namespaces/irsa-manager-system")) === undefined;
            }, 120_000);
            const home = await Deno.makeTempDir({ prefix: "helm-home-" });
            const [repository, tag] = nodeImages.daemon.split(/:(?=[^:]+$)/) as [string, string];
            const helm = await new Deno.Command(await ensureBinary("helm"), {
              args: [
                "install",
                "kubectl-irsa",
                new URL("../../charts/kubectl-irsa", import.meta.url).pathname,
                "-n",
                "irsa-manager-system",
                "--create-namespace",
                "--set",
                `image.repository=${repository}`,
                "--set",
                `image.tag=${tag}`,
                "--set",
                `aws.endpointUrl=${proxy.endpoint}`,
                "--set-file",
                `aws.caBundle=${sandbox.caPath}`,
                "--set",
                "aws.s3PathStyle=true",
              ],
              env: {
                KUBECONFIG: sandbox.kubeconfigPath,
                HELM_CACHE_HOME: `${home}/cache`,
                HELM_CONFIG_HOME: `${home}/config`,
                HELM_DATA_HOME: `${home}/data`,
              },
              stdout: "piped",
              stderr: "piped",
            }).output();
            await Deno.remove(home, { recursive: true });
            equal(helm.code, 0, new TextDecoder().decode(helm.stderr));
            await waitFor("both chart replicas Ready", async () => {
              const pods = await listPods(sandbox, "irsa-manager-system", daemonSelector);
              return pods.length === 2 && pods.every(podReady);
            }, 120_000);
            // The apiserver calls the chart's webhook for a pod of the bound ServiceAccount (a dry run persists nothing).
            const admitted = await waitFor("a mutated dry-run pod", async () => {
              const pod = await sendJson<Pod>(sandbox, "POST", "/api/v1/namespaces/demo/pods?dryRun=All", {
                apiVersion: "v1",
                kind: "Pod",
                metadata: { name: "chart-probe" },
                spec: { serviceAccountName: "app", containers: [{ name: "c", image: nodeImages.s3Echoer }] },
              });
              const arn = pod.spec.containers[0]!.env?.find((e) => e.name === "AWS_ROLE_ARN")?.value;
              return arn ? pod : undefined;
            }, 60_000);
            equal(admitted.spec.containers[0]!.env?.find((e) => e.name === "AWS_ROLE_ARN")?.value, roleArn);
          },
        );
      } finally {
        aws.destroy();
        await proxy.close();
      }
    });
  },
});
