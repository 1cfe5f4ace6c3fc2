// `kubectl irsa install --network-policy` in process, against a plain-HTTP stand-in for the apiserver that answers
// only the EndpointSlice list: which sources the NetworkPolicy gets, and when install connects at all.
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { isIrsaError } from "../lib/errors.ts";
import type { InstallCommand } from "./args.ts";
import { parseCommand } from "./args.ts";
import { runInstall } from "./install.ts";
import type { Io } from "./main.ts";
import { UsageError } from "./usage_error.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

interface FakeApiserver {
  kubeconfig: string;
  requests: URL[];
  close(): Promise<void>;
}

/** Serves `slices` as the EndpointSlices of default/kubernetes and 404 for anything else. */
async function fakeApiserver(dir: string, slices: unknown[] | "forbidden"): Promise<FakeApiserver> {
  const requests: URL[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    requests.push(url);
    if (url.pathname !== "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices") {
      return Response.json({ kind: "Status", code: 404, message: "not found" }, { status: 404 });
    }
    if (slices === "forbidden") {
      return Response.json({
        kind: "Status",
        code: 403,
        message: 'endpointslices.discovery.k8s.io is forbidden: User "jane" cannot list resource "endpointslices"',
      }, { status: 403 });
    }
    return Response.json({ kind: "EndpointSliceList", apiVersion: "discovery.k8s.io/v1", metadata: {}, items: slices });
  });
  const kubeconfig = `${dir}/kubeconfig`;
  await Deno.writeTextFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: `http://127.0.0.1:${server.addr.port}` } }],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
      "current-context": "c",
    }),
  );
  return { kubeconfig, requests, close: () => server.shutdown() };
}

function capture(): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: "",
    stderr: "",
    out: (t: string) => void (io.stdout += t),
    err: (t: string) => void (io.stderr += t),
    env: { get: () => undefined },
  };
  return io;
}

async function withApiserver(
  slices: unknown[] | "forbidden",
  body: (api: FakeApiserver) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "install-np-" });
  const api = await fakeApiserver(dir, slices);
  try {
    await body(api);
  } finally {
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const kubernetesSlices = [
  {
    addressType: "IPv4",
    metadata: { name: "kubernetes", labels: { "kubernetes.io/service-name": "kubernetes" } },
    endpoints: [{ addresses: ["172.18.0.3"] }, { addresses: ["172.18.0.2"] }],
  },
];

const install = (kubeconfig: string, ...args: string[]) =>
  parseCommand(["install", "--kubeconfig", kubeconfig, "--dry-run", "-o", "yaml", ...args]) as InstallCommand;

const networkPolicyOf = (yaml: string): Any =>
  parseAllDocuments(yaml).map((d) => d.toJS()).find((o: Any) => o.kind === "NetworkPolicy");

Deno.test("install --network-policy without --webhook-source admits the kube-apiserver's EndpointSlice addresses", async () => {
  await withApiserver(kubernetesSlices, async (api) => {
    const io = capture();
    const code = await runInstall(install(api.kubeconfig, "--network-policy", "--metrics-namespace", "monitoring"), io);
    assert.equal(code, 0, io.stderr);
    assert.deepEqual(api.requests.map((u) => [u.pathname, u.searchParams.get("labelSelector")]), [
      ["/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", "kubernetes.io/service-name=kubernetes"],
    ]);
    const policy = networkPolicyOf(io.stdout);
    assert.deepEqual(policy.spec.ingress.map((r: Any) => r.from), [
      [{ ipBlock: { cidr: "172.18.0.2/32" } }, { ipBlock: { cidr: "172.18.0.3/32" } }],
      [{
        namespaceSelector: {
          matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["monitoring"] }],
        },
      }],
    ]);
    assert.match(io.stderr, /^note: the NetworkPolicy admits the webhook port from the kube-apiserver's addresses /);
    assert.ok(io.stderr.includes("172.18.0.2/32, 172.18.0.3/32"), io.stderr);
  });
});

Deno.test("install --network-policy --webhook-source renders the given CIDRs and never connects for -o yaml", async () => {
  await withApiserver(kubernetesSlices, async (api) => {
    const io = capture();
    const args = ["--network-policy", "--webhook-source", "10.0.0.0/24", "--webhook-source", "2001:DB8::/32"];
    assert.equal(await runInstall(install(api.kubeconfig, ...args), io), 0, io.stderr);
    assert.deepEqual(api.requests, [], "the given sources need no discovery");
    assert.deepEqual(networkPolicyOf(io.stdout).spec.ingress, [{
      from: [{ ipBlock: { cidr: "10.0.0.0/24" } }, { ipBlock: { cidr: "2001:db8::/32" } }],
      ports: [{ protocol: "TCP", port: 9443 }],
    }]);
    assert.equal(io.stderr, "");
  });
});

Deno.test("install refuses a bad --webhook-source as a usage error before any connection", async (t) => {
  await withApiserver(kubernetesSlices, async (api) => {
    for (const [cidr, reason] of [["10.0.0.1/8", "host bits are set"], ["apiserver", "give a prefix length"]]) {
      await t.step(cidr!, async () => {
        await assert.rejects(
          runInstall(install(api.kubeconfig, "--network-policy", "--webhook-source", cidr!), capture()),
          (e) =>
            e instanceof UsageError && e.command === "install" &&
            e.message.startsWith(`"--webhook-source": Invalid CIDR "${cidr}": ${reason}`) && !e.message.includes("\n"),
        );
      });
    }
    // Also for a real (not printed) install: the check comes before the connection.
    await assert.rejects(
      runInstall(
        parseCommand([
          "install",
          "--kubeconfig",
          api.kubeconfig,
          "--network-policy",
          "--webhook-source",
          "x/1",
        ]) as InstallCommand,
        capture(),
      ),
      UsageError,
    );
    assert.deepEqual(api.requests, []);
  });
});

Deno.test("install --network-policy fails with the remedy when the apiserver's addresses cannot be found", async (t) => {
  const cases: { name: string; slices: unknown[] | "forbidden"; message: RegExp }[] = [
    {
      name: "no EndpointSlice",
      slices: [],
      message: /^The EndpointSlices of Service default\/kubernetes hold no kube-apiserver address$/,
    },
    {
      name: "only FQDN endpoints",
      slices: [{ addressType: "FQDN", endpoints: [{ addresses: ["api.example.com"] }] }],
      message: /hold no kube-apiserver address/,
    },
    {
      name: "no permission to list EndpointSlices",
      slices: "forbidden",
      message: /^Cannot read the EndpointSlices of Service default\/kubernetes for the kube-apiserver's addresses: /,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await withApiserver(c.slices, async (api) => {
        const io = capture();
        await assert.rejects(runInstall(install(api.kubeconfig, "--network-policy"), io), (e) => {
          assert.ok(isIrsaError(e), String(e));
          assert.match(e.message, c.message);
          assert.deepEqual(e.remedies, [{
            kind: "other",
            text: "pass --webhook-source CIDR for each address the kube-apiserver calls webhooks from",
          }]);
          return true;
        });
        assert.equal(io.stdout, "", "nothing printed without the sources");
      });
    });
  }
});
