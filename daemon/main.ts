// `kubectl irsa daemon`: the in-cluster process. It serves the pod identity webhook (with self-managed TLS),
// health and metrics; one AbortController carries SIGTERM to every component.
import { readCaBundle } from "../lib/aws/ca_bundle.ts";
import { KubeClient } from "../lib/kube/client.ts";
import { leaderLease } from "../lib/names.ts";
import { defaultCertPolicy } from "./cert_rotation.ts";
import { Informer } from "./informer.ts";
import { daemonAws } from "./aws_session.ts";
import { runController } from "./controller.ts";
import { runWithLeaderElection } from "./leader_election.ts";
import { jsonLogger } from "./log.ts";
import { reconcileIrsa } from "./reconcile_irsa.ts";
import { reconcileSetup } from "./reconcile_setup.ts";
import { irsaResource, irsaSetupResource } from "./resources.ts";
import { scanMissedMutations } from "./missed_mutations.ts";
import { createMetrics } from "./metrics.ts";
import { parseDaemonOptions } from "./options.ts";
import { serviceAccountLookup, startWebhookServer } from "./webhook_server.ts";
import { publishCaBundle, reconcileWebhookTls } from "./webhook_tls.ts";

/** Runs the daemon until SIGTERM/SIGINT; returns the exit code. */
export async function runDaemon(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseDaemonOptions(argv, Deno.env);
  } catch (e) {
    console.error(`error: ${(e as Error).message}\nSee 'kubectl irsa daemon --help'`);
    return 2;
  }
  const log = jsonLogger(options.logLevel);
  // Read once, before anything connects: every AWS client and the issuer's thumbprint fetch trust the same bundle,
  // and a bad file stops the daemon here with its path instead of failing each reconcile with a TLS error.
  let caBundlePem: string | undefined;
  if (options.controllers && options.awsCaBundlePath !== undefined) {
    try {
      caBundlePem = await readCaBundle(options.awsCaBundlePath);
    } catch (e) {
      log.error("Cannot use the AWS CA bundle", { error: e });
      return 1;
    }
  }
  let kube: KubeClient;
  try {
    kube = await KubeClient.connect({
      ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
      ...(options.context ? { context: options.context } : {}),
    });
  } catch (e) {
    // A kubeconfig or in-cluster config that cannot be honoured stops the daemon with its reason, not a stack.
    log.error("Cannot load the Kubernetes connection", { error: e });
    return 1;
  }
  const stop = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => {
      log.info("Shutting down", { signal });
      stop.abort();
    });
  }
  const metrics = await createMetrics();
  let ready = false;
  const health = Deno.serve({
    hostname: options.metricsAddress.hostname,
    port: options.metricsAddress.port,
    signal: stop.signal,
    onListen: ({ port }) => log.info("Serving health and metrics", { port }),
  }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/healthz") return new Response("ok");
    if (path === "/readyz") return new Response(ready ? "ok" : "not ready", { status: ready ? 200 : 503 });
    if (path === "/metrics") {
      return new Response(await metrics.registry.metrics(), {
        headers: { "content-type": metrics.registry.contentType },
      });
    }
    return new Response("not found", { status: 404 });
  });

  const tasks: Promise<unknown>[] = [health.finished];
  if (options.webhook.enabled) {
    const policy = {
      ...defaultCertPolicy,
      leafDays: options.webhook.certDays,
      caDays: options.webhook.caDays,
      caHandoverMs: options.webhook.caHandoverMs,
    };
    const tlsOptions = {
      namespace: options.namespace,
      dnsNames: options.webhook.dnsNames,
      ipAddresses: options.webhook.ipAddresses,
      policy,
    };
    let material = await reconcileWebhookTls(kube, tlsOptions);
    await publishCaBundle(kube, material.caBundlePem);
    const serviceAccounts = new Informer<{
      metadata: { name: string; namespace: string; annotations?: Record<string, string> };
    }>(kube, { resource: "serviceaccounts" });
    tasks.push(serviceAccounts.run(stop.signal, (e) => log.warn("ServiceAccount watch failed", { error: e })));
    const server = await startWebhookServer({
      hostname: options.webhook.hostname,
      port: options.webhook.port,
      certPem: material.certPem,
      keyPem: material.keyPem,
      lookup: serviceAccountLookup(kube, serviceAccounts, {
        timeoutMs: options.webhook.lookupTimeoutMs,
        onMiss: () => metrics.serviceAccountCacheMisses.inc(),
      }),
      config: options.webhook.config,
      log,
      metrics,
    });
    log.info("Serving the pod identity webhook", { port: server.port });
    await serviceAccounts.waitForSync();
    const reported = new Set<string>();
    tasks.push((async () => {
      while (!stop.signal.aborted) {
        try {
          await scanMissedMutations(kube, {
            lookup: (namespace, name) => serviceAccounts.get(`${namespace}/${name}`)?.metadata.annotations,
            config: options.webhook.config,
            reported,
            onMiss: (pod) => {
              metrics.missedMutations.inc();
              log.warn("Pod runs without the AWS credentials its ServiceAccount asks for", {
                namespace: pod.metadata.namespace,
                name: pod.metadata.name,
              });
            },
          });
        } catch (e) {
          log.warn("Scanning pods for missed mutations failed", { error: e });
        }
        await sleep(options.webhook.missedScanMs, stop.signal);
      }
    })());
    // Certificates: re-read the Secret regularly (another replica may have renewed) and renew when due.
    tasks.push((async () => {
      while (!stop.signal.aborted) {
        const due = material.nextCheck.getTime() - Date.now();
        await sleep(Math.max(100, Math.min(options.webhook.certCheckMs, due)), stop.signal);
        if (stop.signal.aborted) break;
        try {
          const next = await reconcileWebhookTls(kube, tlsOptions);
          // The bundle first: clients must trust a new CA before anything it signed is served.
          if (await publishCaBundle(kube, next.caBundlePem)) log.info("Updated the webhook CA bundle");
          if (next.certPem !== material.certPem) {
            server.updateCertificate(next.certPem, next.keyPem);
            log.info("Rotated the webhook serving certificate");
          }
          material = next;
        } catch (e) {
          log.error("Webhook certificate renewal failed", { error: e });
        }
      }
      await server.close();
    })());
  }
  if (options.controllers) {
    const aws = daemonAws(kube, {
      namespace: options.namespace,
      metrics,
      env: Deno.env,
      requestTimeoutMs: options.awsRequestTimeoutMs,
      ...(caBundlePem !== undefined ? { caBundlePem } : {}),
    });
    const ctx = {
      kube,
      aws: () => aws.clients(),
      log,
      resyncMs: options.resyncMs,
      now: () => new Date(),
      ...(caBundlePem !== undefined ? { caBundlePem } : {}),
    };
    const lead = async (signal: AbortSignal) => {
      await Promise.all([
        runController({
          kind: "IRSASetup",
          kube,
          resource: irsaSetupResource,
          reconcile: (key) => reconcileSetup(key, ctx),
          concurrency: 1,
          resyncMs: options.resyncMs,
          signal,
          log,
          metrics,
        }),
        runController({
          kind: "IRSA",
          kube,
          resource: irsaResource,
          reconcile: (key) => reconcileIrsa(key, ctx),
          concurrency: options.concurrency,
          resyncMs: options.resyncMs,
          signal,
          log,
          metrics,
        }),
      ]);
    };
    tasks.push(
      (options.leaderElect
        ? runWithLeaderElection(kube, {
          namespace: options.namespace,
          name: leaderLease,
          identity: options.identity,
          timing: {
            leaseDurationSeconds: Math.max(1, Math.round(options.leaseDurationMs / 1000)),
            renewEveryMs: Math.round(options.leaseDurationMs / 3),
            retryEveryMs: Math.round(options.leaseDurationMs / 5),
          },
          log,
          stop: stop.signal,
        }, lead)
        : lead(stop.signal)).finally(() => aws.close()),
    );
  }
  ready = true;
  await Promise.all(tasks);
  kube.close();
  log.info("Stopped");
  return 0;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
