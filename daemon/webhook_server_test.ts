// The webhook over real TLS on loopback: ServiceAccount lookup failures and the SIGTERM drain.
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { createRootCa, issueCertificate } from "../lib/pki.ts";
import { defaultWebhookConfig } from "../lib/pod_mutation.ts";
import type { ServiceAccountLookup } from "./admission.ts";
import { FakeClock } from "./clock.ts";
import { jsonLogger } from "./log.ts";
import { drainWebhookServer, serviceAccountLookup, startWebhookServer } from "./webhook_server.ts";

const roleArn = "arn:aws:iam::123456789012:role/app";

/** A KubeClient whose raw() answers `status` with a Kubernetes Status body, or fails like a timeout. */
function fakeKube(answer: number | "timeout") {
  const calls: string[] = [];
  return {
    calls,
    raw: (_method: string, path: string) => {
      calls.push(path);
      if (answer === "timeout") return Promise.reject(new DOMException("The operation timed out", "TimeoutError"));
      const body = answer === 200
        ? { metadata: { name: "app", namespace: "ns", annotations: { "eks.amazonaws.com/role-arn": roleArn } } }
        : { kind: "Status", status: "Failure", message: `status ${answer} from the apiserver`, code: answer };
      return Promise.resolve(new Response(JSON.stringify(body), { status: answer }));
    },
  };
}
const emptyCache = { get: () => undefined };

Deno.test("serviceAccountLookup() treats only a 404 as absent; every other failure throws", async (t) => {
  const cases: { name: string; answer: number | "timeout"; expect: Record<string, string> | undefined | RegExp }[] = [
    { name: "200: the annotations", answer: 200, expect: { "eks.amazonaws.com/role-arn": roleArn } },
    { name: "404: absent", answer: 404, expect: undefined },
    { name: "403 (RBAC): throws with the apiserver's message", answer: 403, expect: /HTTP 403: status 403 from/ },
    { name: "500: throws", answer: 500, expect: /HTTP 500/ },
    { name: "429 left after the client's retries: throws", answer: 429, expect: /HTTP 429/ },
    { name: "timeout: throws", answer: "timeout", expect: /timed out/ },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const kube = fakeKube(c.answer);
      const lookup = serviceAccountLookup(kube, emptyCache, { timeoutMs: 1000 });
      if (c.expect instanceof RegExp) await rejects(lookup("ns", "app"), c.expect);
      else deepStrictEqual(await lookup("ns", "app"), c.expect);
      deepStrictEqual(kube.calls, ["/api/v1/namespaces/ns/serviceaccounts/app"]);
    });
  }
  await t.step("a cached ServiceAccount needs no request", async () => {
    const kube = fakeKube(500);
    let misses = 0;
    const cache = {
      get: (key: string) => key === "ns/app" ? { metadata: { name: "app", namespace: "ns" } } : undefined,
    };
    const lookup = serviceAccountLookup(kube, cache, { timeoutMs: 1000, onMiss: () => misses++ });
    deepStrictEqual(await lookup("ns", "app"), {});
    deepStrictEqual([kube.calls.length, misses], [0, 0]);
  });
});

async function webhook(lookup: ServiceAccountLookup, clock?: FakeClock) {
  const ca = await createRootCa("webhook-server-test");
  const leaf = await issueCertificate(ca, "localhost", { usage: { kind: "server", ipAddresses: ["127.0.0.1"] } });
  const lines: string[] = [];
  const server = await startWebhookServer({
    hostname: "127.0.0.1",
    port: 0,
    certPem: leaf.certPem,
    keyPem: leaf.keyPem,
    lookup,
    config: defaultWebhookConfig,
    log: jsonLogger("info", (line) => lines.push(line)),
    ...(clock ? { clock } : {}),
  });
  const client = Deno.createHttpClient({ caCerts: [ca.certPem], http2: false });
  const review = async (pool = client) => {
    const res = await fetch(`https://127.0.0.1:${server.port}/mutate`, {
      method: "POST",
      client: pool,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: {
          uid: "u1",
          namespace: "ns",
          kind: { group: "", version: "v1", kind: "Pod" },
          object: { metadata: { name: "p" }, spec: { serviceAccountName: "app", containers: [{ name: "c" }] } },
        },
      }),
    });
    const body = await res.json() as { error?: string; response?: { allowed: boolean; patch?: string } };
    return { status: res.status, connection: res.headers.get("connection"), body };
  };
  return { server, client, review, lines, caPem: ca.certPem };
}

Deno.test("webhook: a ServiceAccount that cannot be read fails the call (500), never admits the pod unmutated", async (t) => {
  const cases: { name: string; answer: number | "timeout"; status: number; patched?: boolean }[] = [
    { name: "403", answer: 403, status: 500 },
    { name: "500", answer: 500, status: 500 },
    { name: "timeout", answer: "timeout", status: 500 },
    { name: "404: admitted unmutated", answer: 404, status: 200, patched: false },
    { name: "200: admitted with the patch", answer: 200, status: 200, patched: true },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const { server, client, review, lines } = await webhook(
        serviceAccountLookup(fakeKube(c.answer), emptyCache, { timeoutMs: 1000 }),
      );
      try {
        const answer = await review();
        equal(answer.status, c.status);
        if (c.status === 500) {
          ok(answer.body.error?.startsWith("cannot read ServiceAccount ns/app: "), answer.body.error);
          equal(answer.body.response, undefined, "no AdmissionReview: allowed=false would override failurePolicy");
          ok(lines.some((l) => l.includes("failure policy decides")));
        } else {
          equal(answer.body.response?.allowed, true);
          equal(answer.body.response?.patch !== undefined, c.patched);
        }
      } finally {
        client.close();
        await server.close();
      }
    });
  }
});

Deno.test("drainWebhookServer() serves through the drain period, closing each connection it answers, then closes", async (t) => {
  const clock = new FakeClock();
  const { server, client, review, caPem } = await webhook(() => Promise.resolve(undefined), clock);
  try {
    equal((await review()).connection, "keep-alive");
    const drained = drainWebhookServer(server, { drainMs: 10_000, clock });
    await t.step("during the drain: answered, and the pooled connection is closed after the answer", async () => {
      const answer = await review();
      deepStrictEqual([answer.status, answer.connection], [200, "close"]);
      await clock.advance(9_000);
      const fresh = Deno.createHttpClient({ caCerts: [caPem], http2: false });
      try {
        equal((await review(fresh)).status, 200, "a new connection is still served");
      } finally {
        fresh.close();
      }
    });
    await t.step("after the drain: closed", async () => {
      await clock.advance(1_000);
      await drained;
      await rejects(() => Deno.connectTls({ hostname: "127.0.0.1", port: server.port, caCerts: [caPem] }));
    });
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("drainWebhookServer() closes at once when hurried (a second signal)", async () => {
  const clock = new FakeClock();
  const { server, client, caPem } = await webhook(() => Promise.resolve(undefined), clock);
  try {
    const hurry = new AbortController();
    const drained = drainWebhookServer(server, { drainMs: 10_000, clock, hurry: hurry.signal });
    hurry.abort();
    await drained;
    await rejects(() => Deno.connectTls({ hostname: "127.0.0.1", port: server.port, caCerts: [caPem] }));
  } finally {
    client.close();
  }
});
