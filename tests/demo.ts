// `deno task demo`: the main job on the built-in local sandbox. Starts a real etcd + kube-apiserver and moto,
// runs `kubectl irsa init` against them, restarts the apiserver with the flags init printed, binds a
// ServiceAccount to an IAM role with `kubectl irsa bind`, and proves the chain the way the seed's s3-echoer
// job does: token -> STS-style verification -> trust policy -> AssumeRoleWithWebIdentity -> S3 write (with moto's
// IAM enforcement on). With --keep it stays up and prints how to point kubectl and the plugin at it.
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { parseSetupRecord } from "../lib/setup_record.ts";
import { sandboxAws } from "./support/aws.ts";
import { runPlugin } from "./support/cli.ts";
import { s3Echoer } from "./support/echoer.ts";
import { initAndRestart } from "./support/irsa_setup.ts";
import { createNamespace, sandboxClient } from "./support/kube.ts";
import { startSandbox } from "./support/sandbox.ts";

const keep = Deno.args.includes("--keep");
const step = (m: string) => console.log(`\n== ${m}`);
const check = (m: string) => console.log(`  ✓ ${m}`);

step("Starting the sandbox: etcd, kube-apiserver (built from Go modules), moto over TLS");
const sandbox = await startSandbox({ verbose: true });
let failed = true;
try {
  const bucket = "irsa-demo-oidc";
  const issuer = `${sandbox.moto!.endpoint}/${bucket}`;
  step(`kubectl irsa init --bucket ${bucket} --issuer-url ${issuer}, then restart kube-apiserver with its flags`);
  const init = await initAndRestart(sandbox, bucket);
  console.log(`  AWS calls: ${init.calls} (${init.writes} writes)`);
  console.log("  kube-apiserver change printed by init:");
  for (const line of init.snippet.trimEnd().split("\n")) console.log(`    ${line}`);
  check(`kube-apiserver ${sandbox.apiserver.version} is back with issuer ${init.issuer}`);

  step("Rerunning init: nothing to change");
  const rerun = await runPlugin(["init", "--bucket", bucket, "--issuer-url", issuer], { env: sandbox.env });
  if (rerun.code !== 0 || rerun.writes.length !== 0) throw new Error(`rerun made ${rerun.writes.length} writes`);
  check(`${rerun.calls.length} AWS reads, 0 writes`);

  const kube = await sandboxClient(sandbox);
  const aws = await sandboxAws(sandbox);
  try {
    await createNamespace(kube, "demo");
    step("kubectl irsa bind sa app -n demo --policy AmazonS3FullAccess");
    const bind = await runPlugin(["bind", "sa", "app", "-n", "demo", "--policy", "AmazonS3FullAccess"], {
      env: sandbox.env,
    });
    console.log(bind.stderr.trimEnd());
    console.log(bind.stdout.trimEnd());
    if (bind.code !== 0) throw new Error(`bind failed with exit ${bind.code}`);
    console.log(`  AWS calls: ${bind.calls.length} (${bind.writes.length} writes)`);

    step("The s3-echoer proof, link by link");
    await aws.s3.send(
      new CreateBucketCommand({
        Bucket: "echo-target",
        CreateBucketConfiguration: { LocationConstraint: "eu-west-1" },
      }),
    );
    const cm = await kube.get<{ data: Record<string, string> }>({
      resource: "configmaps",
      namespace: "kube-system",
      name: "kubectl-irsa-setup",
    });
    const setup = parseSetupRecord(cm?.data);
    const proof = await s3Echoer(sandbox, kube, {
      namespace: "demo",
      serviceAccount: "app",
      setup,
      bucket: "echo-target",
      key: "echo.txt",
    });
    for (const link of proof.links) check(link);
    if (!proof.written) throw new Error(`the S3 write was refused: ${proof.denial}`);
  } finally {
    aws.destroy();
    kube.close();
  }
  failed = false;

  if (keep) {
    step("The sandbox stays up; in another shell:");
    for (const [k, v] of Object.entries(sandbox.env)) console.log(`  export ${k}='${v}'`);
    console.log(`  export PATH="${new URL("../krew", import.meta.url).pathname}:$PATH"`);
    console.log("  kubectl get configmap -n kube-system kubectl-irsa-setup -o yaml && kubectl irsa --help");
    console.log("\nPress Ctrl-C to stop it.");
    await new Promise(() => {});
  }
  console.log("\nDemo complete: a pod's ServiceAccount token became AWS credentials that wrote to S3.");
} finally {
  if (!keep || failed) await sandbox.stop({ keepLogs: failed });
}
