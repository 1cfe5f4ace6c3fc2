// `kubectl irsa doctor [sa NAME]`: runs lib/doctor's checks against the live cluster and AWS and prints one line per
// check, with the fix under each failure. Exit 1 when any check fails; warnings do not fail.
import { iamPort } from "../lib/aws/iam_port.ts";
import { stsPort } from "../lib/aws/sts_port.ts";
import { cloudFrontPort } from "../lib/aws/cloudfront_port.ts";
import { s3Port } from "../lib/aws/s3_port.ts";
import { type CheckResult, doctorOk, type DoctorPorts, runDoctor as runChecks } from "../lib/doctor.ts";
import { doctorKubePort } from "../lib/kube/doctor_port.ts";
import { fetchIssuerThumbprint } from "../lib/thumbprint.ts";
import type { DoctorCommand } from "./args.ts";
import type { Io } from "./main.ts";
import { type AwsSession, closeAws, openAws, openKube } from "./session.ts";

/** Renders the checks for a terminal: `✓ title`, `✗ title: detail` with `  fix: …`, `! title: detail`, a summary. */
export function renderChecks(checks: readonly CheckResult[], options: { colour: boolean }): string {
  const paint = (code: number, s: string) => options.colour ? `\x1b[${code}m${s}\x1b[0m` : s;
  const lines: string[] = [];
  for (const c of checks) {
    if (c.ok) lines.push(`${paint(32, "✓")} ${c.title}`);
    else {
      lines.push(c.warning ? `${paint(33, "!")} ${c.title}: ${c.detail}` : `${paint(31, "✗")} ${c.title}: ${c.detail}`);
      if (c.fix) lines.push(`  fix: ${c.fix}`);
    }
  }
  const failed = checks.filter((c) => !c.ok && !c.warning).length;
  const warnings = checks.filter((c) => c.warning).length;
  const passed = checks.length - failed - warnings;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  lines.push(
    `${plural(checks.length, "check")}: ${passed} passed, ${failed} failed, ${plural(warnings, "warning")}`,
  );
  return lines.join("\n") + "\n";
}

/** Runs `kubectl irsa doctor`. */
export async function runDoctor(cmd: DoctorCommand, io: Io): Promise<number> {
  const kube = await openKube(cmd.flags);
  let aws: AwsSession | undefined;
  const caPath = cmd.flags.caBundle ?? io.env.get("AWS_CA_BUNDLE");
  const caPem = caPath ? await Deno.readTextFile(caPath).catch(() => undefined) : undefined;
  // STS fetches without credentials and trusts public CAs; the extra CA only serves private test endpoints.
  const issuerClient = Deno.createHttpClient(caPem ? { caCerts: [caPem] } : {});
  const webhookClients: Deno.HttpClient[] = [];
  try {
    const ports: DoctorPorts = {
      kube: doctorKubePort(kube),
      async aws(setup) {
        aws ??= await openAws(cmd.flags, io, { command: "doctor", defaultRegion: setup.region });
        return {
          iam: iamPort(aws.clients),
          sts: stsPort(aws.clients),
          cloudfront: cloudFrontPort(aws.clients),
          s3: s3Port(aws.clients),
        };
      },
      issuerThumbprint: (issuer) => fetchIssuerThumbprint(issuer, caPem ? { caPem, timeoutMs: 5000 } : {}),
      async probeWebhook(url, caBundlePem) {
        const client = Deno.createHttpClient(caBundlePem ? { caCerts: [caBundlePem] } : {});
        webhookClients.push(client);
        try {
          const res = await fetch(url, {
            method: "POST",
            client,
            headers: { "content-type": "application/json" },
            body: "{}",
            signal: AbortSignal.timeout(5000),
          });
          await res.body?.cancel();
          return { ok: true };
        } catch (e) {
          const message = [e, (e as Error).cause].filter((x) => x instanceof Error).map((x) => (x as Error).message)
            .join(": ");
          return {
            ok: false,
            untrusted: /certificate|UnknownIssuer|invalid peer|tls|handshake/i.test(message),
            error: message,
          };
        }
      },
    };
    const namespace = cmd.flags.namespaces[0] ?? kube.namespace;
    const checks = await runChecks(ports, {
      ...(cmd.serviceAccount !== undefined ? { serviceAccount: { namespace, name: cmd.serviceAccount } } : {}),
      sts: cmd.sts,
      fetcher: (url) => fetch(url, { client: issuerClient, signal: AbortSignal.timeout(10_000) }),
    });
    const ok = doctorOk(checks);
    if (cmd.flags.output === "json") io.out(JSON.stringify({ checks, ok }, null, 2) + "\n");
    else {
      const colour = !io.env.get("NO_COLOR") && Deno.stdout.isTerminal();
      io.out(renderChecks(checks, { colour }));
    }
    return ok ? 0 : 1;
  } finally {
    if (aws) await closeAws(aws, io, cmd.flags);
    issuerClient.close();
    for (const c of webhookClients) c.close();
    kube.close();
  }
}
