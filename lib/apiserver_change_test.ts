import { deepEqual, doesNotThrow, equal, ok, throws } from "node:assert/strict";
import {
  type ApiserverChange,
  apiserverChange,
  type ApiserverChangeInput,
  detectDistro,
  type Distro,
  distros,
  type FlagEdit,
  unchangedValue,
} from "./apiserver_change.ts";
import {
  apiserverArgs,
  applyPrintedChange,
  argName,
  type ConfigFormat,
  initialConfig,
  readPrintedChange,
} from "../tests/support/apiserver_instructions.ts";
import { parse, stringify } from "yaml";
import { checkSignerDistro, signerDistros } from "./distro.ts";
import { isIrsaError } from "./errors.ts";

const s3 = "https://s3.eu-west-1.amazonaws.com/b";
const old = "https://kubernetes.default.svc.cluster.local";
const jwks = `${s3}/keys.json`;
const keyFiles = { publicKeyPath: "/etc/irsa/sa.pub", privateKeyPath: "/etc/irsa/sa.key" };

function input(distro: Distro, extra: Partial<ApiserverChangeInput> = {}): ApiserverChangeInput {
  return { distro, newIssuer: s3, currentIssuers: [old], jwksUri: jwks, ...extra };
}

/** The change as `kubectl irsa init` prints it in text mode, for the reader of printed output. */
function printed(distro: Distro, change: ApiserverChange): string {
  return [
    `Apply this kube-apiserver change (${distro}):`,
    "",
    ...change.snippet.replace(/\n$/, "").split("\n").map((l) => (l === "" ? "" : `    ${l}`)),
    "",
    ...change.notes.map((n) => `- ${n}`),
  ].join("\n") + "\n";
}

Deno.test("apiserverChange() renders the exact steps", async (t) => {
  const cases: { name: string; input: ApiserverChangeInput; snippet: string }[] = [
    {
      name: "raw, cluster-key mode keeps both key flags explicitly",
      input: input("raw"),
      snippet:
        `On every control-plane node, edit kube-apiserver's command line (its systemd unit, manifest or start script); leave every flag not named here as it is:

1. Put this before the first --service-account-issuer flag and keep every existing one after it:
     --service-account-issuer=${s3}
2. Delete every --service-account-jwks-uri flag and put this in its place:
     --service-account-jwks-uri=${jwks}
3. Keep every --service-account-key-file flag as it is.
4. Keep every --service-account-signing-key-file flag as it is.

Afterwards kube-apiserver runs with these service-account flags:
     --service-account-issuer=${s3}  (new)
     --service-account-issuer=${old}  (kept)
     --service-account-jwks-uri=${jwks}  (new)
     --service-account-key-file=<unchanged>  (every value it has today, as it is)
     --service-account-signing-key-file=<unchanged>  (every value it has today, as it is)
`,
    },
    {
      name: "raw, generate mode with known existing keys",
      input: input("raw", { keyFiles: { ...keyFiles, existingPublicKeyPaths: ["/srv/sa.pub"] } }),
      snippet:
        `On every control-plane node, edit kube-apiserver's command line (its systemd unit, manifest or start script); leave every flag not named here as it is:

1. Put this before the first --service-account-issuer flag and keep every existing one after it:
     --service-account-issuer=${s3}
2. Delete every --service-account-jwks-uri flag and put this in its place:
     --service-account-jwks-uri=${jwks}
3. Keep every --service-account-key-file flag and add this after the last one:
     --service-account-key-file=/etc/irsa/sa.pub
4. Delete every --service-account-signing-key-file flag and put this in its place:
     --service-account-signing-key-file=/etc/irsa/sa.key

Afterwards kube-apiserver runs with these service-account flags:
     --service-account-issuer=${s3}  (new)
     --service-account-issuer=${old}  (kept)
     --service-account-jwks-uri=${jwks}  (new)
     --service-account-key-file=/srv/sa.pub  (unchanged)
     --service-account-key-file=/etc/irsa/sa.pub  (new)
     --service-account-signing-key-file=/etc/irsa/sa.key  (new)
`,
    },
    {
      name: "kubeadm, generate mode writes out kubeadm's built-in values when extraArgs has none and mounts the keys",
      input: input("kubeadm", { keyFiles }),
      snippet:
        `Edit apiServer.extraArgs of the cluster's ClusterConfiguration (apiVersion: kubeadm.k8s.io/v1beta4; create extraArgs if it is missing); leave every entry not named here as it is:

1. Put this before the first service-account-issuer entry and keep every existing one after it:
     - name: service-account-issuer
       value: ${s3}
   If there is no service-account-issuer entry yet, add these instead:
     - name: service-account-issuer
       value: ${s3}
     - name: service-account-issuer
       value: ${old}
2. Delete every service-account-jwks-uri entry and put this in its place:
     - name: service-account-jwks-uri
       value: ${jwks}
3. Keep every service-account-key-file entry and add this after the last one:
     - name: service-account-key-file
       value: /etc/irsa/sa.pub
   If there is no service-account-key-file entry yet, add these instead:
     - name: service-account-key-file
       value: /etc/kubernetes/pki/sa.pub
     - name: service-account-key-file
       value: /etc/irsa/sa.pub
4. Delete every service-account-signing-key-file entry and put this in its place:
     - name: service-account-signing-key-file
       value: /etc/irsa/sa.key
5. Add to apiServer.extraVolumes (create it if it is missing):
     - name: irsa-keys
       hostPath: /etc/irsa
       mountPath: /etc/irsa
       readOnly: true
       pathType: Directory

Afterwards kube-apiserver runs with these service-account flags:
     --service-account-issuer=${s3}  (new)
     --service-account-issuer=${old}  (kept)
     --service-account-jwks-uri=${jwks}  (new)
     --service-account-key-file=<unchanged>  (every value it has today, as it is; kubeadm's built-in value is /etc/kubernetes/pki/sa.pub)
     --service-account-key-file=/etc/irsa/sa.pub  (new)
     --service-account-signing-key-file=/etc/irsa/sa.key  (new)
`,
    },
    {
      name: "static-pod, generate mode adds command entries, volumeMounts and volumes",
      input: input("static-pod", { keyFiles }),
      snippet:
        `On every control-plane node, edit spec.containers[0].command in /etc/kubernetes/manifests/kube-apiserver.yaml; leave every entry not named here as it is:

1. Put this before the first --service-account-issuer entry and keep every existing one after it:
     - --service-account-issuer=${s3}
2. Delete every --service-account-jwks-uri entry and put this in its place:
     - --service-account-jwks-uri=${jwks}
3. Keep every --service-account-key-file entry and add this after the last one:
     - --service-account-key-file=/etc/irsa/sa.pub
4. Delete every --service-account-signing-key-file entry and put this in its place:
     - --service-account-signing-key-file=/etc/irsa/sa.key
5. Add to spec.containers[0].volumeMounts (create it if it is missing):
     - mountPath: /etc/irsa
       name: irsa-keys
       readOnly: true
6. Add to spec.volumes (create it if it is missing):
     - hostPath:
         path: /etc/irsa
         type: Directory
       name: irsa-keys

Afterwards kube-apiserver runs with these service-account flags:
     --service-account-issuer=${s3}  (new)
     --service-account-issuer=${old}  (kept)
     --service-account-jwks-uri=${jwks}  (new)
     --service-account-key-file=<unchanged>  (every value it has today, as it is)
     --service-account-key-file=/etc/irsa/sa.pub  (new)
     --service-account-signing-key-file=/etc/irsa/sa.key  (new)
`,
    },
    {
      name: "k3s, cluster-key mode keeps the key files, whatever k3s uses",
      input: input("k3s"),
      snippet:
        `On every server node, edit the kube-apiserver-arg list in /etc/rancher/k3s/config.yaml (create it if it is missing; k3s passes its own values for the flags it does not list); leave every entry not named here as it is:

1. Put this before the first service-account-issuer entry and keep every existing one after it:
     - service-account-issuer=${s3}
   If there is no service-account-issuer entry yet, add these instead:
     - service-account-issuer=${s3}
     - service-account-issuer=${old}
2. Delete every service-account-jwks-uri entry and put this in its place:
     - service-account-jwks-uri=${jwks}
3. Keep every service-account-key-file entry as it is. (With none, k3s uses /var/lib/rancher/k3s/server/tls/service.key.)
4. Keep every service-account-signing-key-file entry as it is. (With none, k3s uses /var/lib/rancher/k3s/server/tls/service.current.key.)

Afterwards kube-apiserver runs with these service-account flags:
     --service-account-issuer=${s3}  (new)
     --service-account-issuer=${old}  (kept)
     --service-account-jwks-uri=${jwks}  (new)
     --service-account-key-file=<unchanged>  (every value it has today, as it is; k3s's built-in value is /var/lib/rancher/k3s/server/tls/service.key)
     --service-account-signing-key-file=<unchanged>  (every value it has today, as it is; k3s's built-in value is /var/lib/rancher/k3s/server/tls/service.current.key)
`,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => equal(apiserverChange(c.input).snippet, c.snippet));
  }
});

Deno.test("apiserverChange() gives each service-account flag one explicit edit", async (t) => {
  type Actions = [FlagEdit["action"], FlagEdit["action"], FlagEdit["action"], FlagEdit["action"]];
  const cases: { name: string; input: ApiserverChangeInput; want: Actions }[] = [
    ...distros.filter((d) => d !== "kind").flatMap((d) => [
      { name: `${d}, cluster-key mode`, input: input(d), want: ["prepend", "replace", "keep", "keep"] as Actions },
      {
        name: `${d}, generate mode`,
        input: input(d, { keyFiles }),
        want: ["prepend", "replace", "append", "replace"] as Actions,
      },
    ]),
    { name: "kind, cluster-key mode", input: input("kind"), want: ["replace", "replace", "keep", "keep"] },
    {
      name: "kind, generate mode mounts the keys",
      input: input("kind", { keyFiles }),
      want: ["replace", "replace", "keep", "keep"],
    },
    {
      name: "re-run after the change",
      input: input("raw", { currentIssuers: [s3, old] }),
      want: ["keep", "replace", "keep", "keep"],
    },
    {
      name: "new issuer accepted but not first",
      input: input("raw", { currentIssuers: [old, s3] }),
      want: ["replace", "replace", "keep", "keep"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const edits = apiserverChange(c.input).edits;
      deepEqual(edits.map((e) => e.name), [
        "service-account-issuer",
        "service-account-jwks-uri",
        "service-account-key-file",
        "service-account-signing-key-file",
      ]);
      deepEqual(edits.map((e) => e.action), c.want);
    });
  }
});

Deno.test("following the printed steps literally gives the printed flags and keeps every key file", async (t) => {
  const base = ["--etcd-servers=http://127.0.0.1:2379", "--secure-port=6443"];
  // Configurations that already name some service-account flags, besides each distribution's default file.
  const extraKey = "/srv/extra.pub";
  const edited = (file: string, edit: (doc: Record<string, unknown>) => void) => {
    const doc = parse(file);
    edit(doc);
    return stringify(doc);
  };
  const named: Partial<Record<ConfigFormat, (file: string) => string>> = {
    "raw": (f) => f.replace("--profiling=false", `--service-account-key-file=${extraKey}\n--profiling=false`),
    "static-pod": (f) =>
      edited(f, (d) => {
        (d as { spec: { containers: { command: string[] }[] } }).spec.containers[0]!.command.push(
          `--service-account-key-file=${extraKey}`,
        );
      }),
    "kubeadm": (f) =>
      edited(f, (d) => {
        (d as { apiServer: { extraArgs: unknown[] } }).apiServer.extraArgs.push({
          name: "service-account-key-file",
          value: extraKey,
        });
      }),
    "k3s": (f) =>
      edited(f, (d) => {
        (d["kube-apiserver-arg"] as string[]).unshift(`service-account-key-file=${extraKey}`);
      }),
    "rke2": (f) =>
      edited(f, (d) => {
        (d["kube-apiserver-arg"] as string[]).push(`service-account-issuer=${old}`);
      }),
    "kind": (f) =>
      edited(f, (d) => {
        (d["kubeadmConfigPatches"] as string[]).push(
          "kind: ClusterConfiguration\napiServer:\n  extraArgs:\n    service-account-issuer: https://old.example\n",
        );
      }),
  };
  for (const distro of distros) {
    for (const mode of ["cluster", "generate"] as const) {
      for (const variant of ["default", "named"] as const) {
        const edit = named[distro];
        if (variant === "named" && !edit) continue;
        await t.step(`${distro}, ${mode} mode, ${variant} configuration`, () => {
          const change = apiserverChange(input(distro, mode === "generate" ? { keyFiles } : {}));
          const file = variant === "named" ? edit!(initialConfig(distro, base)) : initialConfig(distro, base);
          if (variant === "named") ok(file !== initialConfig(distro, base), "the variant changed nothing");
          const read = readPrintedChange(printed(distro, change));
          deepEqual(read.result, change.resultingFlags);
          const before = apiserverArgs(distro, file, base).args;
          const after = apiserverArgs(distro, applyPrintedChange(distro, file, read), base).args;
          const values = (args: string[], name: string) =>
            args.filter((a) => argName(a) === name).map((a) => a.slice(name.length + 3));
          for (const name of new Set(read.result.map(argName))) {
            const printedValues = read.result.filter((r) => argName(r) === name).map((r) => r.slice(name!.length + 3));
            const want = printedValues.flatMap((v) => (v === unchangedValue ? values(before, name!) : [v]));
            deepEqual(values(after, name!), want, `--${name} after following the steps`);
          }
          // The keys the apiserver verifies with before the change still verify after it (kind makes a new cluster).
          const keysBefore = values(before, "service-account-key-file");
          const keysAfter = values(after, "service-account-key-file");
          if (distro !== "kind") ok(keysBefore.every((k) => keysAfter.includes(k)), keysAfter.join(" "));
          equal(values(after, "service-account-signing-key-file").length, 1);
          equal(values(after, "service-account-issuer")[0], s3);
          if (distro !== "kind") ok(values(after, "service-account-issuer").includes(old));
          // Flags outside the change are untouched.
          deepEqual(
            after.filter((a) => !argName(a)?.startsWith("service-account-")),
            before.filter((a) => !argName(a)?.startsWith("service-account-")),
          );
        });
      }
    }
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
      const known = (flags: string[]) => flags.filter((f) => !f.endsWith(unchangedValue));
      deepEqual(known(again.resultingFlags), known(first.resultingFlags));
      equal(again.issuerAlreadyFirst, true);
      // Nothing is added a second time: every flag is kept or set to the value it already has.
      for (const e of again.edits) {
        ok(e.action === "keep" || e.action === "replace", `${e.name}: ${e.action}`);
        if (e.action === "replace") ok(e.values.every((v) => first.flags.includes(`--${e.name}=${v}`)), e.name);
      }
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
  await t.step("raw generate mode without known key files keeps every current one", () => {
    const r = apiserverChange(input("raw", { keyFiles }));
    ok(r.snippet.includes("3. Keep every --service-account-key-file flag and add this after the last one:\n"));
    ok(r.resultingFlags.includes(`--service-account-key-file=${unchangedValue}`));
  });
  await t.step("k3s and RKE2 keep the --api-audiences they set themselves", () => {
    for (const [distro, program] of [["k3s", "k3s"], ["rke2", "rke2"]] as const) {
      const r = apiserverChange(input(distro));
      ok(r.notes.some((n) => n.includes(`sets --api-audiences itself (its default issuer and "${program}")`)));
      ok(!r.notes.some((n) => n.startsWith("Leave --api-audiences unset")));
    }
  });
  await t.step("a key pair only in the Secret comes with the commands that write its files", () => {
    const r = apiserverChange(input("kubeadm", { keyFiles: { ...keyFiles, inSecretOnly: true } }));
    const note = r.notes.find((n) => n.startsWith("The key pair is in Secret kube-system/irsa-manager-key"));
    ok(note?.includes(`base64 -d > ${keyFiles.privateKeyPath}`), note);
    ok(note?.includes(`base64 -d > ${keyFiles.publicKeyPath}`), note);
    ok(!apiserverChange(input("kubeadm", { keyFiles })).notes.some((n) => n.startsWith("The key pair is in Secret")));
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

const socketPath = "/var/run/kubectl-irsa/signer.sock";
const socketDir = "/var/run/kubectl-irsa";
const signer = { socketPath };
const keyFlagNames = ["service-account-key-file", "service-account-signing-key-file"];
const unsupported = ["kubeadm", "k3s", "rke2", "kind"] as const;

Deno.test("signerDistros are exactly the distributions that pass no key file flags themselves", () => {
  deepEqual([...signerDistros].sort(), ["raw", "static-pod"]);
  deepEqual(distros.filter((d) => !signerDistros.includes(d)).sort(), [...unsupported].sort());
});

Deno.test("checkSignerDistro() accepts static pods and raw command lines", async (t) => {
  for (const distro of signerDistros) {
    await t.step(distro, () => doesNotThrow(() => checkSignerDistro(distro)));
  }
});

Deno.test("checkSignerDistro() refuses every distribution that passes its own key file flags", async (t) => {
  for (const distro of unsupported) {
    await t.step(distro, () => {
      throws(
        () => checkSignerDistro(distro),
        (e) => isIrsaError(e, "invalid") && e.reason === "SignerUnsupportedDistro" && e.message.includes(distro),
      );
    });
  }
});

Deno.test("apiserverChange() refuses the signer on kubeadm, k3s, RKE2 and kind", async (t) => {
  for (const distro of unsupported) {
    await t.step(distro, () => {
      throws(
        () => apiserverChange(input(distro, { signer })),
        (e) => isIrsaError(e, "invalid") && e.reason === "SignerUnsupportedDistro",
      );
      // Only the signer is refused: the same distribution still renders without it.
      doesNotThrow(() => apiserverChange(input(distro)));
    });
  }
});

Deno.test("apiserverChange() with the signer renders the exact steps", async (t) => {
  const cases: { distro: Distro; snippet: string }[] = [
    {
      distro: "static-pod",
      snippet:
        `On every control-plane node, edit spec.containers[0].command in /etc/kubernetes/manifests/kube-apiserver.yaml; leave every entry not named here as it is:

1. Put this before the first --service-account-issuer entry and keep every existing one after it:
     - --service-account-issuer=${s3}
2. Delete every --service-account-jwks-uri entry and put this in its place:
     - --service-account-jwks-uri=${jwks}
3. Delete every --service-account-key-file entry.
4. Delete every --service-account-signing-key-file entry.
5. Delete every --service-account-signing-endpoint entry and put this in its place:
     - --service-account-signing-endpoint=${socketPath}
6. Add to spec.containers[0].volumeMounts (create it if it is missing):
     - mountPath: ${socketDir}
       name: irsa-keys
       readOnly: true
7. Add to spec.volumes (create it if it is missing):
     - hostPath:
         path: ${socketDir}
         type: Directory
       name: irsa-keys

Afterwards kube-apiserver runs with these service-account flags:
     --service-account-issuer=${s3}  (new)
     --service-account-issuer=${old}  (kept)
     --service-account-jwks-uri=${jwks}  (new)
     --service-account-signing-endpoint=${socketPath}  (new)
`,
    },
    {
      distro: "raw",
      snippet:
        `On every control-plane node, edit kube-apiserver's command line (its systemd unit, manifest or start script); leave every flag not named here as it is:

1. Put this before the first --service-account-issuer flag and keep every existing one after it:
     --service-account-issuer=${s3}
2. Delete every --service-account-jwks-uri flag and put this in its place:
     --service-account-jwks-uri=${jwks}
3. Delete every --service-account-key-file flag.
4. Delete every --service-account-signing-key-file flag.
5. Delete every --service-account-signing-endpoint flag and put this in its place:
     --service-account-signing-endpoint=${socketPath}

Afterwards kube-apiserver runs with these service-account flags:
     --service-account-issuer=${s3}  (new)
     --service-account-issuer=${old}  (kept)
     --service-account-jwks-uri=${jwks}  (new)
     --service-account-signing-endpoint=${socketPath}  (new)
`,
    },
  ];
  for (const c of cases) {
    await t.step(c.distro, () => equal(apiserverChange(input(c.distro, { signer })).snippet, c.snippet));
  }
});

Deno.test("apiserverChange() with the signer removes both key file flags and sets no empty value", async (t) => {
  for (const distro of signerDistros) {
    await t.step(distro, () => {
      const r = apiserverChange(input(distro, { signer }));
      deepEqual(
        r.edits.filter((e) => keyFlagNames.includes(e.name)),
        keyFlagNames.map((name) => ({ name, action: "remove", values: [] })),
      );
      ok(r.edits.every((e) => !e.values.includes("")), JSON.stringify(r.edits));
      ok(r.resultingFlags.every((f) => !f.endsWith("=")), r.resultingFlags.join(" "));
      deepEqual(r.resultingFlags, [
        `--service-account-issuer=${s3}`,
        `--service-account-issuer=${old}`,
        `--service-account-jwks-uri=${jwks}`,
        `--service-account-signing-endpoint=${socketPath}`,
      ]);
      deepEqual(r.flags, r.resultingFlags);
      ok(!r.snippet.includes("empty"), r.snippet);
      ok(!r.notes.some((n) => n.includes("built-in value")), r.notes.join("\n"));
      ok(
        r.notes.some((n) => n.startsWith(`--service-account-signing-endpoint=${socketPath} makes`)),
        r.notes.join("\n"),
      );
    });
  }
});

Deno.test("apiserverChange() with the signer gives the signing endpoint its own edit after the key files", () => {
  for (const distro of signerDistros) {
    const edits = apiserverChange(input(distro, { signer })).edits;
    deepEqual(edits.map((e) => e.name), [
      "service-account-issuer",
      "service-account-jwks-uri",
      ...keyFlagNames,
      "service-account-signing-endpoint",
    ], distro);
    deepEqual(edits.at(-1), { name: "service-account-signing-endpoint", action: "replace", values: [socketPath] });
  }
});

Deno.test("apiserverChange() with the signer mounts the socket directory only where the apiserver is a pod", async (t) => {
  await t.step("static-pod adds a volume and its mount", () => {
    const r = apiserverChange(input("static-pod", { signer }));
    ok(r.snippet.includes("Add to spec.containers[0].volumeMounts"), r.snippet);
    ok(r.snippet.includes("Add to spec.volumes"), r.snippet);
    ok(r.snippet.includes(`- mountPath: ${socketDir}\n`) && r.snippet.includes(`path: ${socketDir}\n`), r.snippet);
    ok(r.notes.includes(`The volumes let the apiserver read ${socketDir}.`), r.notes.join("\n"));
  });
  await t.step("raw mounts nothing (the apiserver runs on the host)", () => {
    const r = apiserverChange(input("raw", { signer }));
    ok(!r.snippet.includes("Add to"), r.snippet);
    ok(!r.snippet.includes("mountPath") && !r.snippet.includes(`path: ${socketDir}`), r.snippet);
  });
});

Deno.test("apiserverChange() with the signer is stable when re-run on its own result", async (t) => {
  for (const distro of signerDistros) {
    await t.step(distro, () => {
      const first = apiserverChange(input(distro, { signer }));
      const issuers = first.flags.filter((f) => f.startsWith("--service-account-issuer=")).map((f) => f.slice(25));
      const again = apiserverChange(input(distro, { currentIssuers: issuers, signer }));
      deepEqual(again.flags, first.flags);
      equal(again.issuerAlreadyFirst, true);
      equal(again.edits[0]?.action, "keep");
    });
  }
});
