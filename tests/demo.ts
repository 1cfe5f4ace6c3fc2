// `deno task demo`: the main job on the built-in local sandbox. Starts a real etcd + kube-apiserver and moto,
// runs `kubectl irsa init` against them, restarts the apiserver with the flags init printed, and verifies a
// ServiceAccount token through the published issuer exactly as STS would. With --keep it stays up and prints
// how to point kubectl and the plugin at it.
import { decodeJwt } from "jose";
import { verifyLikeSts } from "../lib/web_identity.ts";
import { flagsFromInit } from "./support/apiserver_flags.ts";
import { anonymousFetcher } from "./support/aws.ts";
import { runPlugin } from "./support/cli.ts";
import { createServiceAccount, requestToken, sandboxClient } from "./support/kube.ts";
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
  step(`kubectl irsa init --bucket ${bucket} --issuer-url ${issuer}`);
  const init = await runPlugin(["init", "--bucket", bucket, "--issuer-url", issuer, "-o", "json"], {
    env: sandbox.env,
  });
  console.log(init.stderr.trimEnd());
  if (init.code !== 0) throw new Error(`init failed with exit ${init.code}`);
  const result = JSON.parse(init.stdout) as { apiserver: { flags: string[]; snippet: string } };
  console.log(`  AWS calls: ${init.calls.length} (${init.writes.length} writes)`);
  console.log("  kube-apiserver change printed by init:");
  for (const line of result.apiserver.snippet.trimEnd().split("\n")) console.log(`    ${line}`);

  step("Restarting kube-apiserver with exactly those flags");
  await sandbox.apiserver.restart(flagsFromInit(result.apiserver.flags, sandbox.apiserver.flags));
  check(`kube-apiserver ${sandbox.apiserver.version} is back with issuer ${issuer}`);

  step("Rerunning init: nothing to change");
  const rerun = await runPlugin(["init", "--bucket", bucket, "--issuer-url", issuer], { env: sandbox.env });
  if (rerun.code !== 0 || rerun.writes.length !== 0) throw new Error(`rerun made ${rerun.writes.length} writes`);
  check(`${rerun.calls.length} AWS reads, 0 writes`);

  step("Verifying a ServiceAccount token the way STS does");
  const kube = await sandboxClient(sandbox);
  const anon = anonymousFetcher(sandbox);
  try {
    await kube.create({ resource: "namespaces" }, { apiVersion: "v1", kind: "Namespace", metadata: { name: "demo" } });
    await createServiceAccount(kube, "demo", "app");
    const token = await requestToken(kube, { namespace: "demo", serviceAccount: "app" });
    const claims = decodeJwt(token);
    check(`TokenRequest for demo/app: iss=${claims.iss} aud=${claims.aud}`);
    const chain = await verifyLikeSts(token, { fetcher: anon.fetcher });
    check(`anonymous HTTPS GET ${chain.issuer}/.well-known/openid-configuration: issuer matches exactly`);
    check(`jwks_uri ${chain.jwksUri} holds kid ${chain.kid}`);
    check(`RS256 signature, issuer, audience sts.amazonaws.com and expiry verify; sub=${chain.claims.sub}`);
  } finally {
    anon.close();
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
  console.log("\nDemo complete: the issuer chain verified end to end.");
} finally {
  if (!keep || failed) await sandbox.stop({ keepLogs: failed });
}
