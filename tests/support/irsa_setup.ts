// Brings a sandbox to "init done": runs the plugin's init against moto and restarts kube-apiserver with the
// flags it printed, as an admin would.
import { flagsFromInit } from "./apiserver_flags.ts";
import { runPlugin } from "./cli.ts";
import type { Sandbox } from "./sandbox.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { crdGroup, crdVersion, systemNamespace } from "../../lib/names.ts";

/** What init reported. */
export interface InitOutcome {
  issuer: string;
  providerArn: string;
  flags: string[];
  snippet: string;
  calls: number;
  writes: number;
}

/** Runs `kubectl irsa init` for `bucket` (issuer on moto) and restarts the apiserver with the printed flags. */
export async function initAndRestart(sandbox: Sandbox, bucket: string): Promise<InitOutcome> {
  const issuer = `${sandbox.moto!.endpoint}/${bucket}`;
  const run = await runPlugin(["init", "--bucket", bucket, "--issuer-url", issuer, "-o", "json"], { env: sandbox.env });
  if (run.code !== 0) throw new Error(`init failed with exit ${run.code}: ${run.stderr}`);
  const result = JSON.parse(run.stdout) as { providerArn: string; apiserver: { flags: string[]; snippet: string } };
  await sandbox.apiserver.restart(flagsFromInit(result.apiserver.flags, sandbox.apiserver.flags));
  return {
    issuer,
    providerArn: result.providerArn,
    flags: result.apiserver.flags,
    snippet: result.apiserver.snippet,
    calls: run.calls.length,
    writes: run.writes.length,
  };
}

/** Turns moto's IAM enforcement on (after `freeRequests` more requests) or, with Infinity, off. */
export async function motoEnforceAuth(sandbox: Sandbox, freeRequests: number): Promise<void> {
  const res = await sandbox.moto!.fetch("/moto-api/reset-auth", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: Number.isFinite(freeRequests) ? String(freeRequests) : "inf",
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`moto reset-auth failed: HTTP ${res.status}`);
}

/** Creates IRSASetup `name` in the daemon's namespace with `spec` and waits until it is Ready; returns its status. */
export async function createSetupAndWait(
  kube: KubeClient,
  name: string,
  spec: Record<string, unknown>,
  timeoutMs = 60_000,
): Promise<{ apiserverFlags?: string[]; issuer?: string }> {
  await kube.create({ group: crdGroup, version: crdVersion, resource: "irsasetups", namespace: systemNamespace }, {
    apiVersion: `${crdGroup}/${crdVersion}`,
    kind: "IRSASetup",
    metadata: { name },
    spec,
  });
  const path = `/apis/${crdGroup}/${crdVersion}/namespaces/${systemNamespace}/irsasetups/${name}`;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const o = await kube.get<{
      status?: { conditions?: { type: string; status: string }[]; apiserverFlags?: string[]; issuer?: string };
    }>(path);
    last = o?.status?.conditions;
    if (o?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) return o.status;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`IRSASetup ${name} did not become Ready; last conditions: ${JSON.stringify(last)}`);
}
