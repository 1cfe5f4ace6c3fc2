// `deno task demo`: the main job on the built-in sandbox, a real single-node cluster on this machine (etcd,
// kube-apiserver, controller-manager, scheduler, kubelet, containerd, kube-proxy, all built from Go modules) with
// moto over TLS as AWS. It installs the daemon from a locally assembled image with `kubectl irsa install`, runs
// `kubectl irsa init`, restarts the apiserver with the flags init printed, binds the seed's ServiceAccount with
// `kubectl irsa bind`, and ends with the seed's validation Job: a pod whose AWS SDK turns its kubelet-projected
// token into credentials and writes to S3. With --keep it stays up and prints how to point kubectl and the plugin
// at it.
import { CreateBucketCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { createLocalJWKSet, jwtVerify } from "jose";
import { sandboxAws } from "./support/aws.ts";
import { flagsFromInit } from "./support/apiserver_flags.ts";
import { runPlugin } from "./support/cli.ts";
import { startFaultProxy } from "./support/fault_proxy.ts";
import {
  awsHostnames,
  installDaemon,
  kubectlOk,
  seedValidationJob,
  seedValidationRegion,
  waitJob,
} from "./support/node_cluster.ts";
import { nodeImages } from "./support/node_images.ts";
import { startSandbox } from "./support/sandbox.ts";

const keep = Deno.args.includes("--keep");
const step = (m: string) => console.log(`\n== ${m}`);
const check = (m: string) => console.log(`  ✓ ${m}`);

step("Starting the sandbox: etcd, kube-apiserver, a real node (kubelet, containerd, kube-proxy), moto over TLS");
const sandbox = await startSandbox({ node: true, verbose: true });
check(`node ${sandbox.node!.name} Ready at ${sandbox.node!.ip} in ${sandbox.node!.startSeconds.toFixed(1)} s`);
let failed = true;
const bucket = "irsa-demo-oidc";
const echoBucket = "s3-echoer";
const jobRegion = await seedValidationRegion();
// AWS as the pods see it: moto behind a proxy on the node IP, port 443, under AWS's own host names.
const proxy = await startFaultProxy(sandbox, {
  faultRate: 0,
  holdMs: 0,
  port: 443,
  dnsNames: awsHostnames(jobRegion, echoBucket),
});
const env = { ...sandbox.env, AWS_ENDPOINT_URL: proxy.endpoint };
const aws = await sandboxAws(sandbox, { region: jobRegion });
try {
  step(`kubectl irsa install --image ${nodeImages.daemon}`);
  const installed = await installDaemon(sandbox, proxy.endpoint);
  check(`2 daemon replicas Ready ${installed.seconds.toFixed(1)} s after install`);

  const issuer = `${proxy.endpoint}/${bucket}`;
  step(`kubectl irsa init --bucket ${bucket} --issuer-url ${issuer}, then restart kube-apiserver with its flags`);
  const init = await runPlugin(["init", "--bucket", bucket, "--issuer-url", issuer, "-o", "json"], { env });
  if (init.code !== 0) throw new Error(`init failed with exit ${init.code}: ${init.stderr}`);
  const result = JSON.parse(init.stdout) as { apiserver: { flags: string[]; snippet: string } };
  console.log(`  AWS calls: ${init.calls.length} (${init.writes.length} writes)`);
  console.log("  kube-apiserver change printed by init:");
  for (const line of result.apiserver.snippet.trimEnd().split("\n")) console.log(`    ${line}`);
  await sandbox.apiserver.restart(flagsFromInit(result.apiserver.flags, sandbox.apiserver.flags));
  check(`kube-apiserver ${sandbox.apiserver.version} is back with issuer ${issuer}`);

  step("Rerunning init: nothing to change");
  const rerun = await runPlugin(["init", "--bucket", bucket, "--issuer-url", issuer], { env });
  if (rerun.code !== 0 || rerun.writes.length !== 0) throw new Error(`rerun made ${rerun.writes.length} writes`);
  check(`${rerun.calls.length} AWS reads, 0 writes`);

  step("kubectl irsa bind sa irsa1-sa -n default --policy AmazonS3FullAccess");
  const bind = await runPlugin(["bind", "sa", "irsa1-sa", "-n", "default", "--policy", "AmazonS3FullAccess"], { env });
  console.log(bind.stderr.trimEnd());
  console.log(bind.stdout.trimEnd());
  if (bind.code !== 0) throw new Error(`bind failed with exit ${bind.code}`);
  console.log(`  AWS calls: ${bind.calls.length} (${bind.writes.length} writes)`);

  step("The seed's validation Job (irsa-manager/validation), with s3-echoer built from source");
  await aws.s3.send(
    new CreateBucketCommand({
      Bucket: echoBucket,
      CreateBucketConfiguration: { LocationConstraint: jobRegion as "ap-northeast-1" },
    }),
  );
  await kubectlOk(sandbox, ["create", "configmap", "aws-ca", "-n", "default", `--from-file=ca.pem=${sandbox.caPath}`]);
  const job = await seedValidationJob({
    bucket: echoBucket,
    image: nodeImages.s3Echoer,
    ip: sandbox.host,
    caConfigMap: "aws-ca",
  });
  await kubectlOk(sandbox, ["create", "-n", "default", "-f", "-"], JSON.stringify(job));
  const done = await waitJob(sandbox, "default", "s3-echoer");
  for (const line of done.log.trimEnd().split("\n")) console.log(`    ${line}`);
  if (!done.succeeded) throw new Error("the validation Job failed");
  const roleArn = done.pod.spec.containers[0]!.env?.find((e) => e.name === "AWS_ROLE_ARN")?.value;
  check(`pod ${done.pod.metadata.name} ran on ${done.pod.spec.nodeName} with AWS_ROLE_ARN=${roleArn}`);

  const sts = proxy.requests.find((r) => r.action === "AssumeRoleWithWebIdentity");
  if (!sts) throw new Error("no AssumeRoleWithWebIdentity reached the emulator");
  const client = Deno.createHttpClient({ caCerts: [sandbox.caPem] });
  try {
    const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`, { client })).json();
    const jwks = await (await fetch(discovery.jwks_uri, { client })).json();
    const { payload } = await jwtVerify(sts.form!.get("WebIdentityToken")!, createLocalJWKSet(jwks), {
      issuer,
      audience: "sts.amazonaws.com",
    });
    check(`the token the pod sent to STS verifies against ${discovery.jwks_uri} (sub ${payload.sub})`);
  } finally {
    client.close();
  }
  const objects = await aws.s3.send(new ListObjectsV2Command({ Bucket: echoBucket }));
  const key = objects.Contents?.[0]?.Key;
  if (!key) throw new Error(`nothing in s3://${echoBucket}`);
  check(`s3://${echoBucket}/${key} written from inside the cluster`);
  failed = false;

  if (keep) {
    step("The sandbox stays up; in another shell:");
    for (const [k, v] of Object.entries(env)) console.log(`  export ${k}='${v}'`);
    console.log(`  export PATH="${new URL("../krew", import.meta.url).pathname}:$PATH"`);
    console.log("  kubectl get pods -A && kubectl irsa doctor sa irsa1-sa -n default");
    console.log("\nPress Ctrl-C to stop it.");
    await new Promise(() => {});
  }
  console.log("\nDemo complete: a pod's projected ServiceAccount token became AWS credentials that wrote to S3.");
} finally {
  if (!keep || failed) {
    aws.destroy();
    await proxy.close();
    await sandbox.stop({ keepLogs: failed });
  }
}
