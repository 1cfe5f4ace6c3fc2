// The seed's README, as written, on the real node: `kubectl irsa install` deploys the daemon image (2 replicas,
// leader election, webhook), the aws-secret and the README's IRSASetup and IRSA are applied, the apiserver is
// restarted with status.apiserverFlags and the key files saved as the README says, and the seed's validation Job
// writes to S3 from a pod whose credentials come from a kubelet-projected token. Independently of the product: the
// token the pod's SDK sent to STS (captured at the proxy in front of moto) verifies against the JWKS fetched
// anonymously from the issuer. Then leader hand-over, doctor, the daemon's security context read from the running
// container, uninstall, and the host as it was before the node started.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { createLocalJWKSet, jwtVerify } from "jose";
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { seedIrsaYaml, seedSetupYaml } from "../../lib/testdata/seed_manifests.ts";
import { crdGroup, crdVersion, label, leaderLease, managedByValue, systemNamespace } from "../../lib/names.ts";
import { sandboxAws } from "../support/aws.ts";
import { runPlugin } from "../support/cli.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";
import { flagsFromInit } from "../support/apiserver_flags.ts";
import { nodeNetwork } from "../support/node.ts";
import {
  awsHostnames,
  containerProcess,
  daemonSelector,
  figure,
  getJson,
  installDaemon,
  kubectl,
  kubectlOk,
  listPods,
  type Pod,
  podReady,
  seedValidationJob,
  seedValidationRegion,
  sendJson,
  waitFor,
  waitJob,
  withNodeSandbox,
} from "../support/node_cluster.ts";
import { nodeImages } from "../support/node_images.ts";

const region = "eu-west-1";
const oidcBucket = "seed-node-oidc";
const echoBucket = "s3-echoer";
const crdApi = `/apis/${crdGroup}/${crdVersion}/namespaces/${systemNamespace}`;

type Condition = { type: string; status: string; reason?: string };
type Cr = { status?: { conditions?: Condition[]; roleArn?: string; issuer?: string; apiserverFlags?: string[] } };

async function waitCrReady(sandbox: Parameters<typeof getJson>[0], plural: string, name: string, timeoutMs = 90_000) {
  return await waitFor(`${plural}/${name} Ready`, async () => {
    const o = await getJson<Cr>(sandbox, `${crdApi}/${plural}/${name}`);
    return o?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? o : undefined;
  }, timeoutMs);
}

/** The pod whose name the Lease holder identity carries (`POD_NAME-<random>`, like client-go's `hostname_uuid`). */
function leaderPod(pods: Pod[], holder: string): Pod | undefined {
  return pods.find((p) => holder === p.metadata.name || holder.startsWith(`${p.metadata.name}-`));
}

Deno.test({
  name: "the seed's README on a real node",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await withNodeSandbox(t, async (sandbox) => {
      figure("node start (containerd to node Ready, images built and imported)", sandbox.node!.startSeconds);
      // Every AWS request of the daemon and of the pods goes through this proxy: the oracle for what reached AWS.
      // It listens on 443 with AWS's names in its certificate: s3-echoer's SDK (aws-sdk-go v1) dials AWS's hosts.
      const echoRegion = await seedValidationRegion();
      const proxy = await startFaultProxy(sandbox, {
        faultRate: 0,
        holdMs: 0,
        port: 443,
        dnsNames: awsHostnames(echoRegion, echoBucket),
      });
      const aws = await sandboxAws(sandbox);
      try {
        let daemonPods: Pod[] = [];
        await t.step("kubectl irsa install runs the daemon image: 2 replicas Ready, one leader", async () => {
          // The seed's IRSA binds kube-system/irsa1-sa (README): kube-system must not be skipped.
          const installed = await installDaemon(sandbox, proxy.endpoint, ["--webhook-skip-namespaces", ""]);
          daemonPods = installed.pods;
          figure("install to both replicas Ready", installed.seconds);
          for (const p of daemonPods) equal(p.spec.nodeName, nodeNetwork.nodeName);
          const lease = await waitFor("the leader Lease", async () => {
            const l = await getJson<{ spec?: { holderIdentity?: string } }>(
              sandbox,
              `/apis/coordination.k8s.io/v1/namespaces/${systemNamespace}/leases/${leaderLease}`,
            );
            return l?.spec?.holderIdentity ? l.spec.holderIdentity : undefined;
          });
          ok(leaderPod(daemonPods, lease), `leader ${lease} is one of the pods`);
        });

        await t.step(
          "the daemon runs as 65532, read-only root, no privilege escalation, no capabilities, seccomp",
          async () => {
            for (const pod of daemonPods) {
              const id = pod.status.containerStatuses?.[0]?.containerID;
              ok(id, `${pod.metadata.name} has a container`);
              const facts = await containerProcess(sandbox, id);
              deepStrictEqual(facts.uids, [65532, 65532, 65532, 65532]);
              deepStrictEqual(facts.gids, [65532, 65532, 65532, 65532]);
              equal(facts.capEff, "0000000000000000");
              equal(facts.capPrm, "0000000000000000");
              equal(facts.capBnd, "0000000000000000");
              equal(facts.noNewPrivs, true);
              equal(facts.seccomp, 2, "seccomp filter mode");
              ok(facts.rootMountOptions.includes("ro"), `root mounted ${facts.rootMountOptions.join(",")}`);
            }
          },
        );

        await t.step("the README's aws-secret, IRSASetup, key files and apiserver flags", async () => {
          // Step 1 of the README, with the emulator's credentials.
          await kubectlOk(sandbox, [
            "create",
            "secret",
            "generic",
            "aws-secret",
            "-n",
            systemNamespace,
            `--from-literal=aws-access-key-id=${sandbox.env.AWS_ACCESS_KEY_ID}`,
            `--from-literal=aws-secret-access-key=${sandbox.env.AWS_SECRET_ACCESS_KEY}`,
            `--from-literal=aws-region=${region}`,
          ]);
          await kubectlOk(sandbox, ["apply", "-f", "-"], seedSetupYaml({ region, bucket: oidcBucket }));
          const setup = await waitCrReady(sandbox, "irsasetups", "irsa-init");
          const flags = setup.status!.apiserverFlags!;
          ok(flags.includes(`--service-account-issuer=${proxy.endpoint}/${oidcBucket}`), flags.join(" "));
          // "Execute the following commands on the control plane server to save the public and private keys".
          const pki = `${sandbox.dir}/pki`;
          await Deno.mkdir(pki, { recursive: true });
          for (const [key, file] of [["ssh-privatekey", "irsa-manager.key"], ["ssh-publickey", "irsa-manager.pub"]]) {
            const b64 = await kubectlOk(sandbox, [
              "get",
              "secret",
              "-n",
              "kube-system",
              "irsa-manager-key",
              "-o",
              `jsonpath={.data.${key}}`,
            ]);
            await Deno.writeTextFile(`${pki}/${file}`, atob(b64), { mode: 0o600 });
          }
          // The flags name kubeadm's folder, which the README says can be any path: here the sandbox's.
          const local = flags.map((f) => f.replace("/etc/kubernetes/pki/", `${pki}/`));
          await sandbox.apiserver.restart(flagsFromInit(local, sandbox.apiserver.flags));
        });

        let roleArn = "";
        let irsaApplied = 0;
        await t.step("the README's IRSA: role, policy and both ServiceAccounts annotated", async () => {
          // The apiserver restart just before outlasts the renew deadline, so the leader may have stepped down
          // and restarted (as kube-controller-manager does): wait for both replicas and a leader among them.
          const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${systemNamespace}/leases/${leaderLease}`;
          await waitFor("both replicas Ready and one of them leading", async () => {
            const pods = await listPods(sandbox, systemNamespace, daemonSelector);
            const lease = await getJson<{ spec: { holderIdentity?: string } }>(sandbox, leasePath);
            const holder = lease?.spec.holderIdentity;
            return pods.filter(podReady).length === 2 && holder && leaderPod(pods, holder) ? true : undefined;
          }, 120_000);
          const firstCall = proxy.requests.length;
          irsaApplied = performance.now();
          await kubectlOk(sandbox, ["apply", "-f", "-"], seedIrsaYaml);
          const irsa = await waitCrReady(sandbox, "irsas", "irsa-sample");
          roleArn = irsa.status!.roleArn!;
          // Exactly one replica acts: every AWS call for the IRSA came from the leader pod's address.
          const pods = await listPods(sandbox, systemNamespace, daemonSelector);
          const lease = await getJson<{ spec: { holderIdentity: string } }>(sandbox, leasePath);
          const leaderIp = leaderPod(pods, lease!.spec.holderIdentity)!.status.podIP;
          const senders = new Set(proxy.requests.slice(firstCall).map((r) => r.remote));
          deepStrictEqual([...senders], [leaderIp], "AWS calls came only from the leader");
          for (const ns of ["kube-system", "default"]) {
            const sa = await getJson<{ metadata: { annotations?: Record<string, string> } }>(
              sandbox,
              `/api/v1/namespaces/${ns}/serviceaccounts/irsa1-sa`,
            );
            equal(sa?.metadata.annotations?.["eks.amazonaws.com/role-arn"], roleArn);
          }
        });

        const jobOptions = { bucket: echoBucket, image: nodeImages.s3Echoer, ip: sandbox.host, caConfigMap: "aws-ca" };
        await t.step("the seed's validation Job writes to S3 with the projected token's credentials", async () => {
          // s3-echoer.sh: create the bucket, then the Job from the template.
          const regional = await sandboxAws(sandbox, { region: echoRegion });
          try {
            await regional.s3.send(
              new CreateBucketCommand({
                Bucket: echoBucket,
                CreateBucketConfiguration: { LocationConstraint: echoRegion as "ap-northeast-1" },
              }),
            );
          } finally {
            regional.destroy();
          }
          await kubectlOk(sandbox, [
            "create",
            "configmap",
            "aws-ca",
            "-n",
            "default",
            `--from-file=ca.pem=${sandbox.caPath}`,
          ]);
          const job = await seedValidationJob(jobOptions);
          await kubectlOk(sandbox, ["create", "-n", "default", "-f", "-"], JSON.stringify(job));
          const done = await waitJob(sandbox, "default", "s3-echoer");
          ok(done.succeeded, `the Job failed:\n${done.log}`);
          figure("IRSA applied to the Job's object in S3", (performance.now() - irsaApplied) / 1000);
          // What the webhook put in the pod, read back from the apiserver.
          const env = Object.fromEntries((done.pod.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
          equal(env.AWS_ROLE_ARN, roleArn);
          equal(env.AWS_WEB_IDENTITY_TOKEN_FILE, "/var/run/secrets/eks.amazonaws.com/serviceaccount/token");
          ok(done.pod.spec.volumes?.some((v) => v.name === "aws-iam-token" && v.projected));

          const objects = await aws.s3.send(new ListObjectsV2Command({ Bucket: echoBucket }));
          equal(objects.Contents?.length, 1, "one object written");
          const key = objects.Contents![0]!.Key!;
          ok(/^s3echoer-\d+$/.test(key), key);
          const body = await aws.s3.send(new GetObjectCommand({ Bucket: echoBucket, Key: key }));
          equal(await body.Body!.transformToString(), "This is an in-cluster test\n");
        });

        await t.step(
          "the token the pod sent to STS verifies against the issuer's JWKS, fetched anonymously",
          async () => {
            const sts = proxy.requests.filter((r) => r.action === "AssumeRoleWithWebIdentity");
            equal(sts.length, 1, "one AssumeRoleWithWebIdentity");
            const form = sts[0]!.form!;
            equal(form.get("RoleArn"), roleArn);
            const token = form.get("WebIdentityToken")!;
            const issuer = `${proxy.endpoint}/${oidcBucket}`;
            const client = Deno.createHttpClient({ caCerts: [sandbox.caPem] });
            try {
              const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`, { client })).json();
              equal(discovery.issuer, issuer);
              const jwks = await (await fetch(discovery.jwks_uri, { client })).json();
              const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
                issuer,
                audience: "sts.amazonaws.com",
                algorithms: ["RS256"],
              });
              equal(payload.sub, "system:serviceaccount:default:irsa1-sa");
              ok(jwks.keys.some((k: { kid: string }) => k.kid === protectedHeader.kid));
              // A kubelet-projected token: bound to the pod and the node.
              const k8s = payload["kubernetes.io"] as { pod?: { name: string }; node?: { name: string } };
              ok(k8s.pod?.name.startsWith("s3-echoer-"), JSON.stringify(k8s));
              equal(k8s.node?.name, nodeNetwork.nodeName);
            } finally {
              client.close();
            }
            // No AWS call of this run carried credentials other than the daemon's and the role's.
            equal(proxy.requests.filter((r) => r.status >= 500).length, 0);
          },
        );

        await t.step("a pod of a ServiceAccount without a binding gets no credentials and cannot write", async () => {
          await kubectlOk(sandbox, ["create", "serviceaccount", "unbound", "-n", "default"]);
          const stsBefore = proxy.requests.filter((r) => r.action === "AssumeRoleWithWebIdentity").length;
          const job = await seedValidationJob({ ...jobOptions, name: "s3-echoer-unbound", serviceAccount: "unbound" });
          await kubectlOk(sandbox, ["create", "-n", "default", "-f", "-"], JSON.stringify(job));
          const done = await waitJob(sandbox, "default", "s3-echoer-unbound");
          equal(done.succeeded, false, done.log);
          const names = (done.pod.spec.containers[0]!.env ?? []).map((e) => e.name);
          ok(!names.includes("AWS_ROLE_ARN") && !names.includes("AWS_WEB_IDENTITY_TOKEN_FILE"), names.join(","));
          equal(proxy.requests.filter((r) => r.action === "AssumeRoleWithWebIdentity").length, stsBefore);
          const objects = await aws.s3.send(new ListObjectsV2Command({ Bucket: echoBucket }));
          equal(objects.Contents?.length, 1, "still only the bound Job's object");
        });

        await t.step(
          "deleting the leader pod hands over; IRSA objects created meanwhile and after become Ready, each role made once",
          async () => {
            const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${systemNamespace}/leases/${leaderLease}`;
            const leader =
              (await getJson<{ spec: { holderIdentity: string } }>(sandbox, leasePath))!.spec.holderIdentity;
            const oldLeader = leaderPod(await listPods(sandbox, systemNamespace, daemonSelector), leader)!;
            const leaderName = oldLeader.metadata.name;
            const deleted = await sandbox.adminFetch(`/api/v1/namespaces/${systemNamespace}/pods/${leaderName}`, {
              method: "DELETE",
            });
            await deleted.body?.cancel();
            ok(deleted.ok, `DELETE pod ${leaderName}: ${deleted.status}`);
            await kubectlOk(sandbox, ["create", "namespace", "handover"]);
            const irsa = {
              apiVersion: `${crdGroup}/${crdVersion}`,
              kind: "IRSA",
              metadata: { name: "handover", namespace: systemNamespace },
              spec: {
                cleanup: true,
                serviceAccount: { name: "handover-sa", namespaces: ["handover"] },
                iamRole: { name: "handover-role" },
                iamPolicies: ["AmazonS3ReadOnlyAccess"],
              },
            };
            await sendJson(sandbox, "POST", `${crdApi}/irsas`, irsa);
            const next = await waitFor("another leader", async () => {
              const l = await getJson<{ spec: { holderIdentity?: string } }>(sandbox, leasePath);
              const h = l?.spec.holderIdentity;
              return h && h !== leader ? h : undefined;
            }, 90_000);
            const pods = await listPods(sandbox, systemNamespace, daemonSelector);
            const nextPod = leaderPod(pods, next);
            ok(nextPod && nextPod.metadata.name !== leaderName, `new leader ${next} is another running pod`);
            const ready = await waitCrReady(sandbox, "irsas", "handover");
            ok(ready.status?.roleArn?.endsWith(":role/handover-role"));
            // The deleted pod leads until SIGTERM (its preStop sleep comes first), so either replica may have made
            // the role created meanwhile, but only one, once.
            const madeMeanwhile = proxy.requests.filter((r) =>
              r.action === "CreateRole" && r.form?.get("RoleName") === "handover-role" && r.status < 300
            );
            equal(madeMeanwhile.length, 1, "handover-role created exactly once");
            ok(
              [oldLeader.status.podIP, nextPod!.status.podIP].includes(madeMeanwhile[0]!.remote),
              `handover-role made by a lease holder, not ${madeMeanwhile[0]!.remote}`,
            );
            // After the handover only the new leader writes.
            await sendJson(sandbox, "POST", `${crdApi}/irsas`, {
              ...irsa,
              metadata: { ...irsa.metadata, name: "after-handover" },
              spec: {
                ...irsa.spec,
                serviceAccount: { name: "after-sa", namespaces: ["handover"] },
                iamRole: { name: "after-role" },
              },
            });
            await waitCrReady(sandbox, "irsas", "after-handover");
            const madeAfter = proxy.requests.filter((r) =>
              r.action === "CreateRole" && r.form?.get("RoleName") === "after-role"
            );
            deepStrictEqual(
              madeAfter.map((r) => r.remote),
              [nextPod!.status.podIP],
              "the new leader created after-role",
            );
            await waitFor("the Deployment back at 2 ready replicas", async () => {
              const p = await listPods(sandbox, systemNamespace, daemonSelector);
              return p.filter(podReady).length === 2;
            }, 120_000);
          },
        );

        await t.step("doctor is all green on the node and names the webhook when it is scaled to 0", async () => {
          const green = await runPlugin(["doctor", "sa", "irsa1-sa", "-n", "default", "-o", "json"], {
            env: sandbox.env,
          });
          equal(green.code, 0, green.stdout + green.stderr);
          const checks = JSON.parse(green.stdout).checks as { id: string; ok: boolean; detail: string }[];
          deepStrictEqual(checks.filter((c) => !c.ok), []);
          ok(
            checks.find((c) => c.id === "webhook")!.detail.includes(
              "a dry-run pod of default/irsa1-sa got AWS_ROLE_ARN",
            ),
          );
          await kubectlOk(sandbox, ["scale", "deployment", "kubectl-irsa", "-n", systemNamespace, "--replicas=0"]);
          await waitFor(
            "no daemon pods",
            async () => (await listPods(sandbox, systemNamespace, daemonSelector)).length === 0,
          );
          const broken = await runPlugin(["doctor", "sa", "irsa1-sa", "-n", "default", "-o", "json"], {
            env: sandbox.env,
          });
          equal(broken.code, 1, broken.stdout + broken.stderr);
          const failed = (JSON.parse(broken.stdout).checks as { id: string; ok: boolean; detail: string }[])
            .filter((c) => !c.ok);
          deepStrictEqual(failed.map((c) => c.id), ["webhook"]);
          ok(failed[0]!.detail.includes("has no ready endpoints"), failed[0]!.detail);
          await kubectlOk(sandbox, ["scale", "deployment", "kubectl-irsa", "-n", systemNamespace, "--replicas=2"]);
          await waitFor("2 ready daemon pods", async () => {
            const p = await listPods(sandbox, systemNamespace, daemonSelector);
            return p.length === 2 && p.every(podReady);
          }, 120_000);
        });

        await t.step("deleting the objects, then kubectl irsa uninstall, leaves nothing behind", async () => {
          for (const name of ["irsa-sample", "handover", "after-handover"]) {
            await sandbox.adminFetch(`${crdApi}/irsas/${name}`, { method: "DELETE" }).then((r) => r.body?.cancel());
          }
          await sandbox.adminFetch(`${crdApi}/irsasetups/irsa-init`, { method: "DELETE" }).then((r) =>
            r.body?.cancel()
          );
          await waitFor("the IRSA objects gone (cleanup done)", async () => {
            const list = await getJson<{ items: unknown[] }>(sandbox, `${crdApi}/irsas`);
            const setups = await getJson<{ items: unknown[] }>(sandbox, `${crdApi}/irsasetups`);
            return list?.items.length === 0 && setups?.items.length === 0;
          }, 90_000);
          const run = await runPlugin(["uninstall"], { env: sandbox.env });
          equal(run.code, 0, run.stderr);
          await waitFor("the daemon namespace gone", async () => {
            return (await getJson(sandbox, `/api/v1/namespaces/${systemNamespace}`)) === undefined;
          }, 120_000);
          const left = await kubectl(sandbox, [
            "get",
            "clusterroles,clusterrolebindings,mutatingwebhookconfigurations,crds,roles,rolebindings",
            "-A",
            "-l",
            `${label.managedBy}=${managedByValue}`,
            "-o",
            "name",
          ]);
          equal(left.code, 0, left.stderr);
          equal(left.stdout.trim(), "", `left behind:\n${left.stdout}`);
          const crds = await kubectlOk(sandbox, ["get", "crds", "-o", "name"]);
          ok(!crds.includes(crdGroup), crds);
        });
      } finally {
        aws.destroy();
        await proxy.close();
      }
    });
  },
});
