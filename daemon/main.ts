// `kubectl irsa daemon`: the in-cluster process. It serves the pod identity webhook (with self-managed TLS),
// health and metrics; one AbortController carries SIGTERM to every component.
import { readCaBundle } from "../lib/aws/ca_bundle.ts";
import { KubeClient } from "../lib/kube/client.ts";
import { leaderLease } from "../lib/names.ts";
import { defaultCertPolicy } from "./cert_rotation.ts";
import { realClock, sleep } from "./clock.ts";
import { Informer } from "./informer.ts";
import { daemonAws } from "./aws_session.ts";
import { CallBudget } from "./call_budget.ts";
import { runController } from "./controller.ts";
import { readyAtGeneration } from "./conditions.ts";
import { runWithLeaderElection } from "./leader_election.ts";
import { PolicyExistenceCache } from "./policy_cache.ts";
import { jsonLogger } from "./log.ts";
import { reconcileIrsa } from "./reconcile_irsa.ts";
import { reconcileSetup } from "./reconcile_setup.ts";
import { irsaResource, irsaSetupResource } from "./resources.ts";
import { watchMissedMutations } from "./missed_mutations.ts";
import { createMetrics } from "./metrics.ts";
import { parseDaemonOptions } from "./options.ts";
import { drainWebhookServer, serviceAccountLookup, startWebhookServer } from "./webhook_server.ts";
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
      // No request may hang on a half-open connection. client-go's rest.Config has no default; its discovery
      // client uses 32 s, distinct from the apiserver's own 60 s. Watches get it only until their response head,
      // then the informer's inactivity deadline bounds them.
      requestTimeoutMs: 32_000,
    });
  } catch (e) {
    // A kubeconfig or in-cluster config that cannot be honoured stops the daemon with its reason, not a stack.
    log.error("Cannot load the Kubernetes connection", { error: e });
    return 1;
  }
  // SIGTERM stops the controllers at once (the Lease is released) while the webhook drains; a second signal cuts
  // the drain short.
  const stop = new AbortController();
  const hurry = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => {
      if (stop.signal.aborted) {
        log.info("Shutting down now", { signal });
        hurry.abort();
        return;
      }
      log.info("Shutting down", { signal, drainMs: options.webhook.enabled ? options.shutdownDrainMs : 0 });
      stop.abort();
    });
  }
  const metrics = createMetrics();
  let ready = false;
  // Up until every other task has ended, so probes and scrapes see the drain; /readyz turns 503 the moment the
  // daemon starts stopping (a signal or a lost lease), before the webhook closes.
  const health = Deno.serve({
    hostname: options.metricsAddress.hostname,
    port: options.metricsAddress.port,
    onListen: ({ port }) => log.info("Serving health and metrics", { port }),
  }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/healthz") return new Response("ok");
    if (path === "/readyz") {
      const isReady = ready && !stop.signal.aborted;
      return new Response(isReady ? "ok" : "not ready", { status: isReady ? 200 : 503 });
    }
    if (path === "/metrics") {
      return new Response(await metrics.registry.metrics(), {
        headers: { "content-type": metrics.registry.contentType },
      });
    }
    return new Response("not found", { status: 404 });
  });

  const tasks: Promise<unknown>[] = [];
  /** 1 once leader election was lost. */
  let exitCode = 0;
  // Set by the webhook block; run by the leader only (lead below).
  let missedScan: ((signal: AbortSignal) => Promise<void>) | undefined;
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
      metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string> };
    }>(kube, { resource: "serviceaccounts" }, {
      watchInactivityMs: options.watchInactivityMs,
      // Only what the webhook reads: managedFields and secrets of every ServiceAccount would fill the cache.
      transform: ({ metadata: { name, namespace, resourceVersion, annotations } }) => ({
        metadata: {
          name,
          namespace,
          ...(resourceVersion ? { resourceVersion } : {}),
          ...(annotations ? { annotations } : {}),
        },
      }),
    });
    // Stopped only once the webhook has closed: it serves from this cache while it drains.
    const webhookStop = new AbortController();
    tasks.push(serviceAccounts.run(webhookStop.signal, (e) => log.warn("ServiceAccount watch failed", { error: e })));
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
    tasks.push((async () => {
      await new Promise((resolve) => {
        if (stop.signal.aborted) resolve(undefined);
        else stop.signal.addEventListener("abort", resolve, { once: true });
      });
      // Never ready, never in the endpoints: nothing to drain.
      await drainWebhookServer(server, { drainMs: ready ? options.shutdownDrainMs : 0, hurry: hurry.signal });
      log.info("Closed the pod identity webhook");
      webhookStop.abort();
    })());
    await serviceAccounts.waitForSync();
    missedScan = (signal) =>
      watchMissedMutations(kube, {
        serviceAccounts,
        config: options.webhook.config,
        intervalMs: options.webhook.missedScanMs,
        watchInactivityMs: options.watchInactivityMs,
        signal,
        log,
        metrics,
      });
    // Certificates: re-read the Secret regularly (another replica may have renewed) and renew when due.
    tasks.push((async () => {
      while (!stop.signal.aborted) {
        const due = material.nextCheck.getTime() - Date.now();
        await sleep(realClock, Math.max(100, Math.min(options.webhook.certCheckMs, due)), stop.signal);
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
    })());
  }
  if (options.controllers) {
    // One budget for both controllers, charged with every AWS call the daemon makes.
    const budget = new CallBudget(options.driftBudget, realClock);
    const aws = daemonAws(kube, {
      namespace: options.namespace,
      metrics,
      onCall: () => budget.charge(),
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
      systemNamespace: options.namespace,
      policyCache: new PolicyExistenceCache(10 * 60_000, realClock),
      ...(caBundlePem !== undefined ? { caBundlePem } : {}),
    };
    const lead = async (signal: AbortSignal) => {
      await Promise.all([
        runController({
          kind: "IRSASetup",
          kube,
          resource: irsaSetupResource,
          reconcile: (key, signal) => reconcileSetup(key, { ...ctx, signal }),
          concurrency: 1,
          resyncMs: options.resyncMs,
          budget,
          upToDate: readyAtGeneration,
          watchInactivityMs: options.watchInactivityMs,
          signal,
          log,
          metrics,
        }),
        runController({
          kind: "IRSA",
          kube,
          resource: irsaResource,
          reconcile: (key, signal) => reconcileIrsa(key, { ...ctx, signal }),
          concurrency: options.concurrency,
          resyncMs: options.resyncMs,
          budget,
          upToDate: readyAtGeneration,
          watchInactivityMs: options.watchInactivityMs,
          signal,
          log,
          metrics,
        }),
        ...(missedScan ? [missedScan(signal)] : []),
      ]);
    };
    tasks.push(
      (options.leaderElect
        ? runWithLeaderElection(kube, {
          namespace: options.namespace,
          name: leaderLease,
          identity: options.identity,
          timing: {
            leaseDurationMs: options.leaseDurationMs,
            renewDeadlineMs: options.renewDeadlineMs,
            retryPeriodMs: options.retryPeriodMs,
          },
          log,
          stop: stop.signal,
        }, lead).then((end) => {
          // Like client-go's controllers (klog.Fatal on OnStoppedLeading) and controller-runtime's manager: a lost
          // lease ends the process non-zero and Kubernetes restarts it as a fresh candidate.
          if (end === "lost") {
            exitCode = 1;
            stop.abort();
          }
        })
        : lead(stop.signal)).finally(() => aws.close()),
    );
  } else if (missedScan) {
    // Webhook only: no lease to elect on, so every replica scans; the Event's fixed name keeps one per pod.
    tasks.push(missedScan(stop.signal));
  }
  ready = true;
  await Promise.all(tasks);
  kube.close();
  await health.shutdown();
  log.info("Stopped", { exitCode });
  return exitCode;
}
