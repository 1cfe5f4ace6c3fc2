// The pod identity webhook served by `kubectl irsa daemon`, called by the real kube-apiserver over HTTPS with the
// CA bundle the daemon publishes: pods come back mutated exactly as the contract says, also when their
// ServiceAccount was created an instant before, and certificate rotations (serving certificate, then the CA with
// a staged handover) during streams of pods lose none.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import {
  certificatePem,
  certificatesFromPem,
  certificateSignedBy,
  createRootCa,
  issueCertificate,
  loadCertifiedKey,
} from "../../lib/pki.ts";
import { systemNamespace, webhookObjects } from "../../lib/names.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { startDaemon } from "../support/daemon.ts";
import { createNamespace, freshNamespace, sandboxClient } from "../support/kube.ts";
import { withSandbox } from "../support/sandbox.ts";
import { freePort } from "../support/server_process.ts";
import { registerWebhook, waitForWebhook } from "../support/webhook.ts";
import { readWebhookConfiguration, webhookConfigurationRef } from "../../lib/kube/webhook_reads.ts";

const roleArn = "arn:aws:iam::123456789012:role/app";

interface PodSpec {
  containers: {
    name: string;
    env?: { name: string; value?: string }[];
    volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  }[];
  initContainers?: PodSpec["containers"];
  volumes?: {
    name: string;
    projected?: { sources: { serviceAccountToken?: { audience: string; expirationSeconds: number; path: string } }[] };
  }[];
}

async function createPod(
  kube: KubeClient,
  namespace: string,
  pod: {
    name: string;
    serviceAccount: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    containers?: PodSpec["containers"];
  },
): Promise<PodSpec> {
  const created = await kube.create<{ spec: PodSpec }>({ resource: "pods", namespace }, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: pod.name, labels: pod.labels ?? {}, annotations: pod.annotations ?? {} },
    spec: { serviceAccountName: pod.serviceAccount, containers: pod.containers ?? [{ name: "app", image: "busybox" }] },
  });
  return created.spec;
}

async function createSa(kube: KubeClient, namespace: string, name: string, annotations: Record<string, string>) {
  await kube.create({ resource: "serviceaccounts", namespace }, {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name, annotations },
  });
}

interface TlsSecret {
  metadata: { annotations?: Record<string, string> };
  data: Record<string, string>;
}

/** Each certificate of a PEM bundle in one layout, so bundles compare whatever their line breaks. */
const certs = (pem: string) => certificatesFromPem(pem).map(certificatePem);

/** The caBundle of our MutatingWebhookConfiguration (base64, as stored). */
async function publishedBundle(kube: KubeClient): Promise<string | undefined> {
  return (await readWebhookConfiguration(kube))?.webhooks?.[0]?.clientConfig.caBundle;
}

const env = (spec: PodSpec, container = 0) =>
  Object.fromEntries((spec.containers[container]!.env ?? []).map((e) => [e.name, e.value]));

Deno.test({
  name: "webhook e2e",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      try {
        await createNamespace(kube, systemNamespace);
        const port = freePort();
        await registerWebhook(kube, {
          port,
          namespaceSelector: { matchExpressions: [{ key: "irsa-test/no-webhook", operator: "DoesNotExist" }] },
        });
        const daemon = await startDaemon(sandbox, [
          "--namespace",
          systemNamespace,
          "--webhook-cert-check-ms",
          "200",
          "--missed-mutation-scan-ms",
          "300",
        ], {
          webhookPort: port,
        });
        try {
          const ns = await freshNamespace(kube, "wh");
          await createSa(kube, ns, "app", { "eks.amazonaws.com/role-arn": roleArn });
          await createSa(kube, ns, "plain", {});
          await waitForWebhook(kube, ns, "app");

          await t.step(
            "a pod of an annotated ServiceAccount gets the role, the token file and the projected token",
            async () => {
              const spec = await createPod(kube, ns, { name: "p1", serviceAccount: "app" });
              deepStrictEqual(env(spec), {
                AWS_ROLE_ARN: roleArn,
                AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
              });
              deepStrictEqual(spec.containers[0]!.volumeMounts, [
                {
                  name: "aws-iam-token",
                  mountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount",
                  readOnly: true,
                },
              ]);
              const volume = spec.volumes?.find((v) => v.name === "aws-iam-token");
              deepStrictEqual(volume?.projected?.sources, [
                { serviceAccountToken: { audience: "sts.amazonaws.com", expirationSeconds: 86400, path: "token" } },
              ]);
            },
          );

          await t.step("pods of unannotated ServiceAccounts and opted-out pods pass untouched", async () => {
            const plain = await createPod(kube, ns, { name: "p2", serviceAccount: "plain" });
            equal(plain.containers[0]!.env, undefined);
            const skipped = await createPod(kube, ns, {
              name: "p3",
              serviceAccount: "app",
              labels: { "eks.amazonaws.com/skip-pod-identity-webhook": "true" },
            });
            equal(skipped.containers[0]!.env, undefined);
          });

          await t.step("annotations drive audience, regional STS, expiration and skipped containers", async () => {
            await createSa(kube, ns, "tuned", {
              "eks.amazonaws.com/role-arn": roleArn,
              "eks.amazonaws.com/audience": "custom-aud",
              "eks.amazonaws.com/sts-regional-endpoints": "true",
              "eks.amazonaws.com/token-expiration": "7200",
            });
            const spec = await createPod(kube, ns, {
              name: "p4",
              serviceAccount: "tuned",
              annotations: {
                "eks.amazonaws.com/skip-containers": "sidecar",
                "eks.amazonaws.com/token-expiration": "100",
              },
              containers: [{ name: "app", env: [] }, { name: "sidecar" }].map((c) => ({
                ...c,
                image: "busybox",
              })) as PodSpec["containers"],
            });
            equal(env(spec).AWS_STS_REGIONAL_ENDPOINTS, "regional");
            equal(env(spec, 1).AWS_ROLE_ARN, undefined, "skip-containers is honoured");
            const token = spec.volumes?.find((v) => v.name === "aws-iam-token")?.projected?.sources[0]
              ?.serviceAccountToken;
            deepStrictEqual(token, { audience: "custom-aud", expirationSeconds: 600, path: "token" });
          });

          await t.step("a pod created right after its ServiceAccount is still mutated (cache miss)", async () => {
            for (let i = 0; i < 5; i++) {
              await createSa(kube, ns, `fresh-${i}`, { "eks.amazonaws.com/role-arn": roleArn });
              const spec = await createPod(kube, ns, { name: `fresh-${i}`, serviceAccount: `fresh-${i}` });
              equal(env(spec).AWS_ROLE_ARN, roleArn, `pod fresh-${i}`);
            }
          });

          await t.step(
            "a malformed AdmissionReview gets HTTP 400 with a message, and the server stays up",
            async () => {
              const mwc = await kube.get<{ webhooks: { clientConfig: { caBundle: string } }[] }>(
                webhookConfigurationRef,
              );
              const client = Deno.createHttpClient({ caCerts: [atob(mwc!.webhooks[0]!.clientConfig.caBundle)] });
              try {
                for (
                  const body of [
                    "not json",
                    "{}",
                    JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }),
                  ]
                ) {
                  const res = await fetch(`https://127.0.0.1:${port}/mutate`, { method: "POST", body, client });
                  equal(res.status, 400);
                  ok(typeof (await res.json()).error === "string");
                }
              } finally {
                client.close();
              }
              const spec = await createPod(kube, ns, { name: "after-bad", serviceAccount: "app" });
              equal(env(spec).AWS_ROLE_ARN, roleArn);
            },
          );

          await t.step("a serving certificate rotated during a stream of pod creations loses no pod", async () => {
            const secretRef = { resource: "secrets", namespace: systemNamespace, name: webhookObjects.tlsSecret };
            const secret = await kube.get<{ data: Record<string, string> }>(secretRef);
            const ca = await loadCertifiedKey(
              atob(secret!.data["ca.crt"]!).split(/(?<=-----END CERTIFICATE-----\n)/)[0]!,
              atob(secret!.data["ca.key"]!),
            );
            const rotations = (async () => {
              for (let i = 0; i < 3; i++) {
                await new Promise((r) => setTimeout(r, 400));
                const leaf = await issueCertificate(ca, "rotated", {
                  usage: { kind: "server", dnsNames: ["x"], ipAddresses: ["127.0.0.1"] },
                });
                await kube.patch(secretRef, { data: { "tls.crt": btoa(leaf.certPem), "tls.key": btoa(leaf.keyPem) } });
              }
            })();
            const results: string[] = [];
            for (let i = 0; i < 150; i++) {
              const spec = await createPod(kube, ns, { name: `stream-${i}`, serviceAccount: "app" });
              results.push(env(spec).AWS_ROLE_ARN ?? "missing");
            }
            await rotations;
            deepStrictEqual(results.filter((r) => r !== roleArn), [], "every pod was mutated");
            ok((await Deno.readTextFile(daemon.process.logPath)).includes("Rotated the webhook serving certificate"));
          });

          await t.step("a pod the webhook never saw is reported by an Event on its owner and a metric", async () => {
            const hidden = `hidden-${ns}`;
            await createNamespace(kube, hidden, { "irsa-test/no-webhook": "true" });
            await createSa(kube, hidden, "app", { "eks.amazonaws.com/role-arn": roleArn });
            const spec = await createPod(kube, hidden, { name: "unmutated", serviceAccount: "app" });
            equal(spec.containers[0]!.env, undefined);
            const deadline = Date.now() + 20_000;
            let events: { reason: string; involvedObject: { name: string }; message: string }[] = [];
            while (Date.now() < deadline && events.length === 0) {
              events = (await kube.list<typeof events[number]>({ resource: "events", namespace: hidden }))
                .filter((e) => e.reason === "MissingAwsCredentials");
              if (events.length === 0) await new Promise((r) => setTimeout(r, 200));
            }
            equal(events.length, 1, "exactly one Event for the missed pod");
            equal(events[0]!.involvedObject.name, "unmutated");
            ok(
              events[0]!.message.includes(
                `namespace ${hidden} is outside the pod identity webhook's namespaceSelector`,
              ),
            );
            ok(/^kubectl_irsa_webhook_missed_mutations_total 1$/m.test(await daemon.metrics()));
          });

          await t.step("metrics count requests, mutations and cache misses", async () => {
            const text = await daemon.metrics();
            ok(/kubectl_irsa_webhook_mutations_total \d+/.test(text), text.slice(0, 300));
            const misses = Number(
              text.match(/kubectl_irsa_webhook_serviceaccount_cache_misses_total (\d+)/)?.[1] ?? "0",
            );
            ok(misses >= 0);
            ok(/kubectl_irsa_webhook_request_duration_seconds_bucket/.test(text));
          });

          await t.step(
            "a CA due for renewal is in the caBundle before it signs, and no pod is lost across the handover",
            async () => {
              // Plant a CA with less than a third of its life left while no daemon runs, trusted by the apiserver.
              await daemon.stop();
              const secretRef = { resource: "secrets", namespace: systemNamespace, name: webhookObjects.tlsSecret };
              const day = 86_400_000;
              const aging = await createRootCa("aging CA", { notBefore: new Date(Date.now() - 300 * day), days: 365 });
              const agingLeaf = await issueCertificate(aging, "aging", {
                usage: { kind: "server", ipAddresses: ["127.0.0.1"] },
              });
              const previous = atob((await kube.get<TlsSecret>(secretRef))!.data["ca.crt"]!);
              const planted = aging.certPem + previous;
              await kube.patch(secretRef, {
                data: {
                  "ca.crt": btoa(planted),
                  "ca.key": btoa(aging.keyPem),
                  "tls.crt": btoa(agingLeaf.certPem),
                  "tls.key": btoa(agingLeaf.keyPem),
                },
              });
              await kube.patch(webhookConfigurationRef, [{
                op: "replace",
                path: "/webhooks/0/clientConfig/caBundle",
                value: btoa(planted),
              }], "json");
              await new Promise((r) => setTimeout(r, 2000));

              const successor = await startDaemon(sandbox, [
                "--namespace",
                systemNamespace,
                "--webhook-cert-check-ms",
                "200",
                "--webhook-ca-handover",
                "8s",
              ], { webhookPort: port });
              try {
                const staged = (await kube.get<TlsSecret>(secretRef))!;
                const stagedCa = atob(staged.data["staged-ca.crt"] ?? "");
                ok(stagedCa, "a successor CA is staged");
                ok(staged.metadata.annotations?.["irsa.kubectl.io/ca-staged-at"]);
                deepStrictEqual(certs(atob(staged.data["ca.crt"]!)), [
                  ...certs(aging.certPem),
                  ...certs(stagedCa),
                  ...certs(previous),
                ]);
                ok(await certificateSignedBy(atob(staged.data["tls.crt"]!), aging.certPem), "the aging CA still signs");
                equal(await publishedBundle(kube), staged.data["ca.crt"]);

                const results: string[] = [];
                let promotedAt = -1;
                for (let i = 0; promotedAt < 0 || i < promotedAt + 20; i++) {
                  if (i > 400) throw new Error("the staged CA was never promoted");
                  const spec = await createPod(kube, ns, { name: `handover-${i}`, serviceAccount: "app" });
                  results.push(env(spec).AWS_ROLE_ARN ?? "missing");
                  const secret = (await kube.get<TlsSecret>(secretRef))!;
                  if (promotedAt < 0 && secret.data["staged-ca.crt"] === undefined) promotedAt = i;
                  await new Promise((r) => setTimeout(r, 30));
                }
                deepStrictEqual(results.filter((r) => r !== roleArn), [], "every pod was mutated");
                ok(promotedAt > 0, "pods were created while the CA was staged");

                const promoted = (await kube.get<TlsSecret>(secretRef))!;
                ok(await certificateSignedBy(atob(promoted.data["tls.crt"]!), stagedCa), "the new CA signs now");
                equal(promoted.metadata.annotations?.["irsa.kubectl.io/ca-staged-at"], undefined);
                // The old CAs stay trusted until they expire.
                deepStrictEqual(certs(atob(promoted.data["ca.crt"]!)), [
                  ...certs(stagedCa),
                  ...certs(aging.certPem),
                  ...certs(previous),
                ]);
                equal(await publishedBundle(kube), promoted.data["ca.crt"]);
              } finally {
                await successor.stop();
              }
            },
          );
        } finally {
          await daemon.stop();
        }
      } finally {
        kube.close();
      }
    }, { moto: false }),
});
