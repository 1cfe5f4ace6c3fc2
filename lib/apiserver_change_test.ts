import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { parse } from "yaml";
import { apiserverChange, type ApiserverChangeInput, detectDistro, type Distro, distros } from "./apiserver_change.ts";
import { isIrsaError } from "./errors.ts";

const s3 = "https://s3.eu-west-1.amazonaws.com/b";
const old = "https://kubernetes.default.svc.cluster.local";
const jwks = `${s3}/keys.json`;
const keyFiles = { publicKeyPath: "/etc/irsa/sa.pub", privateKeyPath: "/etc/irsa/sa.key" };

function input(distro: Distro, extra: Partial<ApiserverChangeInput> = {}): ApiserverChangeInput {
  return { distro, newIssuer: s3, currentIssuers: [old], jwksUri: jwks, ...extra };
}

Deno.test("apiserverChange() renders the exact raw and kubeadm snippets", async (t) => {
  const cases: { name: string; input: ApiserverChangeInput; snippet: string }[] = [
    {
      name: "raw, cluster-key mode",
      input: input("raw"),
      snippet: `--service-account-issuer=${s3}\n--service-account-issuer=${old}\n--service-account-jwks-uri=${jwks}\n`,
    },
    {
      name: "raw, generate mode with known existing keys",
      input: input("raw", { keyFiles: { ...keyFiles, existingPublicKeyPaths: ["/srv/sa.pub"] } }),
      snippet: `--service-account-issuer=${s3}\n--service-account-issuer=${old}\n--service-account-jwks-uri=${jwks}\n` +
        "--service-account-key-file=/srv/sa.pub\n--service-account-key-file=/etc/irsa/sa.pub\n" +
        "--service-account-signing-key-file=/etc/irsa/sa.key\n",
    },
    {
      name: "kubeadm, cluster-key mode",
      input: input("kubeadm"),
      snippet: `apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
apiServer:
  extraArgs:
    - name: service-account-issuer
      value: ${s3}
    - name: service-account-issuer
      value: ${old}
    - name: service-account-jwks-uri
      value: ${jwks}
`,
    },
    {
      name: "kubeadm, generate mode mounts the key directory",
      input: input("kubeadm", { keyFiles }),
      snippet: `apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
apiServer:
  extraArgs:
    - name: service-account-issuer
      value: ${s3}
    - name: service-account-issuer
      value: ${old}
    - name: service-account-jwks-uri
      value: ${jwks}
    - name: service-account-key-file
      value: /etc/kubernetes/pki/sa.pub
    - name: service-account-key-file
      value: /etc/irsa/sa.pub
    - name: service-account-signing-key-file
      value: /etc/irsa/sa.key
  extraVolumes:
    - name: irsa-keys
      hostPath: /etc/irsa
      mountPath: /etc/irsa
      readOnly: true
      pathType: Directory
`,
    },
    {
      name: "kubeadm, keys under /etc/kubernetes/pki need no extra volume",
      input: input("kubeadm", {
        keyFiles: { publicKeyPath: "/etc/kubernetes/pki/irsa.pub", privateKeyPath: "/etc/kubernetes/pki/irsa.key" },
      }),
      snippet: `apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
apiServer:
  extraArgs:
    - name: service-account-issuer
      value: ${s3}
    - name: service-account-issuer
      value: ${old}
    - name: service-account-jwks-uri
      value: ${jwks}
    - name: service-account-key-file
      value: /etc/kubernetes/pki/sa.pub
    - name: service-account-key-file
      value: /etc/kubernetes/pki/irsa.pub
    - name: service-account-signing-key-file
      value: /etc/kubernetes/pki/irsa.key
`,
    },
    {
      name: "static-pod, generate mode adds command lines, volumeMounts and volumes",
      input: input("static-pod", { keyFiles }),
      snippet: `# spec.containers[0].command:
    - --service-account-issuer=${s3}
    - --service-account-issuer=${old}
    - --service-account-jwks-uri=${jwks}
    - --service-account-key-file=/etc/kubernetes/pki/sa.pub
    - --service-account-key-file=/etc/irsa/sa.pub
    - --service-account-signing-key-file=/etc/irsa/sa.key
# spec.containers[0].volumeMounts:
    - mountPath: /etc/irsa
      name: irsa-keys
      readOnly: true
# spec.volumes:
  - hostPath:
      path: /etc/irsa
      type: Directory
    name: irsa-keys
`,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => equal(apiserverChange(c.input).snippet, c.snippet));
  }
});

Deno.test("apiserverChange() renders parseable YAML for k3s, rke2 and kind", async (t) => {
  const cases: { name: string; input: ApiserverChangeInput; want: unknown }[] = [
    {
      name: "k3s, cluster-key mode",
      input: input("k3s"),
      want: {
        "kube-apiserver-arg": [
          `service-account-issuer=${s3}`,
          `service-account-issuer=${old}`,
          `service-account-jwks-uri=${jwks}`,
        ],
      },
    },
    {
      name: "k3s, generate mode keeps k3s's own key",
      input: input("k3s", { keyFiles }),
      want: {
        "kube-apiserver-arg": [
          `service-account-issuer=${s3}`,
          `service-account-issuer=${old}`,
          `service-account-jwks-uri=${jwks}`,
          "service-account-key-file=/var/lib/rancher/k3s/server/tls/service.key",
          "service-account-key-file=/etc/irsa/sa.pub",
          "service-account-signing-key-file=/etc/irsa/sa.key",
        ],
      },
    },
    {
      name: "rke2, cluster-key mode",
      input: input("rke2"),
      want: {
        "kube-apiserver-arg": [
          `service-account-issuer=${s3}`,
          `service-account-issuer=${old}`,
          `service-account-jwks-uri=${jwks}`,
        ],
      },
    },
    {
      name: "rke2, generate mode mounts the key directory into the static pod",
      input: input("rke2", { keyFiles }),
      want: {
        "kube-apiserver-arg": [
          `service-account-issuer=${s3}`,
          `service-account-issuer=${old}`,
          `service-account-jwks-uri=${jwks}`,
          "service-account-key-file=/var/lib/rancher/rke2/server/tls/service.key",
          "service-account-key-file=/etc/irsa/sa.pub",
          "service-account-signing-key-file=/etc/irsa/sa.key",
        ],
        "kube-apiserver-extra-mount": ["/etc/irsa:/etc/irsa:ro"],
      },
    },
    {
      name: "kind, cluster-key mode",
      input: input("kind"),
      want: {
        kind: "Cluster",
        apiVersion: "kind.x-k8s.io/v1alpha4",
        nodes: [{ role: "control-plane" }],
        kubeadmConfigPatches: [{
          kind: "ClusterConfiguration",
          apiServer: { extraArgs: { "service-account-issuer": s3, "service-account-jwks-uri": jwks } },
        }],
      },
    },
    {
      name: "kind, generate mode mounts the key pair as kubeadm's sa.key and sa.pub",
      input: input("kind", { keyFiles }),
      want: {
        kind: "Cluster",
        apiVersion: "kind.x-k8s.io/v1alpha4",
        nodes: [{
          role: "control-plane",
          extraMounts: [
            { hostPath: "/etc/irsa/sa.pub", containerPath: "/etc/kubernetes/pki/sa.pub", readOnly: true },
            { hostPath: "/etc/irsa/sa.key", containerPath: "/etc/kubernetes/pki/sa.key", readOnly: true },
          ],
        }],
        kubeadmConfigPatches: [{
          kind: "ClusterConfiguration",
          apiServer: { extraArgs: { "service-account-issuer": s3, "service-account-jwks-uri": jwks } },
        }],
      },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const doc = parse(apiserverChange(c.input).snippet);
      // kind embeds each patch as a YAML string; parse it too so the structure is compared, not the text.
      if (Array.isArray(doc?.kubeadmConfigPatches)) {
        doc.kubeadmConfigPatches = doc.kubeadmConfigPatches.map((p: string) => parse(p));
      }
      deepEqual(doc, c.want);
    });
  }
});

Deno.test("apiserverChange() keeps every old issuer behind the new one", async (t) => {
  const cases: { name: string; distro: Distro; current: string[]; want: string[] }[] = [
    { name: "one old issuer", distro: "raw", current: [old], want: [s3, old] },
    {
      name: "two old issuers keep their order",
      distro: "static-pod",
      current: [old, "https://a"],
      want: [s3, old, "https://a"],
    },
    { name: "re-run after the change is applied", distro: "kubeadm", current: [s3, old], want: [s3, old] },
    { name: "new issuer present but not first moves to the front", distro: "k3s", current: [old, s3], want: [s3, old] },
    { name: "duplicates and blanks are dropped", distro: "rke2", current: [old, old, " "], want: [s3, old] },
    { name: "no current issuer", distro: "raw", current: [], want: [s3] },
    { name: "kind sets only the new issuer for a new cluster", distro: "kind", current: [old], want: [s3] },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const r = apiserverChange(input(c.distro, { currentIssuers: c.current }));
      deepEqual(
        r.flags.filter((f) => f.startsWith("--service-account-issuer=")),
        c.want.map((i) => `--service-account-issuer=${i}`),
      );
      equal(r.issuerAlreadyFirst, c.current[0] === s3);
    });
  }
});

Deno.test("apiserverChange() is stable when re-run on its own result", async (t) => {
  for (const distro of distros) {
    await t.step(distro, () => {
      const first = apiserverChange(input(distro, { keyFiles }));
      const issuers = first.flags.filter((f) => f.startsWith("--service-account-issuer=")).map((f) => f.slice(25));
      const keys = first.flags.filter((f) => f.startsWith("--service-account-key-file=")).map((f) => f.slice(27));
      const again = apiserverChange(
        input(distro, { currentIssuers: issuers, keyFiles: { ...keyFiles, existingPublicKeyPaths: keys } }),
      );
      deepEqual(again.flags, first.flags);
      equal(again.snippet, first.snippet);
      equal(again.issuerAlreadyFirst, true);
    });
  }
});

Deno.test("apiserverChange() never puts sts.amazonaws.com in --api-audiences", async (t) => {
  for (const distro of distros) {
    for (const apiAudiences of [undefined, [old], [old, "sts.amazonaws.com"]]) {
      await t.step(`${distro}, audiences ${apiAudiences?.join(",") ?? "unset"}`, () => {
        const r = apiserverChange(
          input(distro, apiAudiences === undefined ? { keyFiles } : { apiAudiences, keyFiles }),
        );
        ok(!r.snippet.includes("api-audiences"), r.snippet);
        ok(!r.flags.some((f) => f.startsWith("--api-audiences")));
        ok(r.notes.some((n) => n.startsWith("Do not add sts.amazonaws.com to --api-audiences")));
        const removal = r.notes.some((n) => n.startsWith("Remove sts.amazonaws.com"));
        equal(removal, apiAudiences?.includes("sts.amazonaws.com") ?? false);
      });
    }
  }
});

Deno.test("apiserverChange() explains the audience default and the kubeadm sorting trap", async (t) => {
  await t.step("unset --api-audiences defaults to every issuer", () => {
    const r = apiserverChange(input("raw"));
    ok(r.notes.some((n) => n.startsWith("Leave --api-audiences unset")));
  });
  await t.step("explicit --api-audiences is kept", () => {
    const r = apiserverChange(input("raw", { apiAudiences: [old, "vault"] }));
    ok(r.notes.some((n) => n.startsWith(`Keep --api-audiences=${old},vault`)));
  });
  await t.step("kubeadm warns when sorting would put the old issuer first", () => {
    const r = apiserverChange(input("kubeadm"));
    ok(r.notes.some((n) => n.startsWith("Warning:") && n.includes("kubernetes/kubeadm#3261")));
  });
  await t.step("kubeadm only asks to check when sorting keeps the new issuer first", () => {
    const r = apiserverChange(input("kubeadm", { currentIssuers: ["https://z.example"] }));
    ok(!r.notes.some((n) => n.startsWith("Warning:")));
    ok(r.notes.some((n) => n.startsWith("Check that the first --service-account-issuer")));
  });
  await t.step("raw generate mode without known key files says so", () => {
    const r = apiserverChange(input("raw", { keyFiles }));
    ok(r.notes.some((n) => n.includes("current --service-account-key-file values")));
  });
});

Deno.test("apiserverChange() rejects unusable input", async (t) => {
  const cases: { name: string; input: ApiserverChangeInput; reason: string }[] = [
    { name: "issuer with a trailing slash", input: input("raw", { newIssuer: `${s3}/` }), reason: "InvalidIssuerUrl" },
    { name: "http JWKS URI", input: input("raw", { jwksUri: "http://x/keys.json" }), reason: "InvalidJwksUri" },
    {
      name: "relative key path",
      input: input("kubeadm", { keyFiles: { ...keyFiles, publicKeyPath: "sa.pub" } }),
      reason: "InvalidKeyPath",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      throws(() => apiserverChange(c.input), (e) => isIrsaError(e, "invalid") && e.reason === c.reason);
    });
  }
});

Deno.test("detectDistro() recognises each distribution", async (t) => {
  const base = { gitVersion: "v1.33.1", hasKubeadmConfig: false, nodeProviderIds: [] as string[] };
  const cases: { name: string; facts: Parameters<typeof detectDistro>[0]; want: Distro }[] = [
    { name: "k3s build suffix", facts: { ...base, gitVersion: "v1.33.1+k3s1" }, want: "k3s" },
    {
      name: "rke2 build suffix",
      facts: { ...base, gitVersion: "v1.33.1+rke2r1", hasKubeadmConfig: true },
      want: "rke2",
    },
    {
      name: "kind provider ID wins over kubeadm-config",
      facts: { ...base, hasKubeadmConfig: true, nodeProviderIds: ["", "kind://docker/kind/kind-control-plane"] },
      want: "kind",
    },
    { name: "kubeadm-config ConfigMap", facts: { ...base, hasKubeadmConfig: true }, want: "kubeadm" },
    {
      name: "static apiserver pod without kubeadm",
      facts: { ...base, apiserverPodLabels: { component: "kube-apiserver", tier: "control-plane" } },
      want: "static-pod",
    },
    { name: "nothing known", facts: { ...base, nodeProviderIds: ["aws:///eu-west-1a/i-1"] }, want: "raw" },
  ];
  for (const c of cases) await t.step(c.name, () => equal(detectDistro(c.facts), c.want));
});
