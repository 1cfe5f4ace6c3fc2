// lib/ words no remedy in CLI terms: its messages also become IRSA and IRSASetup conditions, whose readers have
// spec fields, not flags. A remedy is an errors.ts Remedy that cli/remedy.ts and daemon/remedy.ts each word.
import { deepStrictEqual, equal } from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const libDir = dirname(fileURLToPath(import.meta.url));
const root = dirname(libDir);

/** Flags of other programs that a user sets by hand: facts about those programs, kept in messages. */
const otherPrograms: Record<string, string> = {
  "--service-account-issuer": "kube-apiserver flag the user edits",
  "--service-account-key-file": "kube-apiserver flag the user edits",
  "--service-account-signing-key-file": "kube-apiserver flag the user edits",
  "--service-account-jwks-uri": "kube-apiserver flag the user edits",
  "--api-audiences": "kube-apiserver flag the user edits",
  "--service-account-signing-endpoint": "kube-apiserver flag the user edits",
  "--socket": "the signer's own argument in its static pod and systemd unit (signer/deploy.ts)",
  "--kms-key": "the signer's own argument in its static pod and systemd unit (signer/deploy.ts)",
  "--verify-key-file": "the signer's own argument in its static pod and systemd unit (signer/deploy.ts)",
  "--now": "systemctl enable --now",
  "--open-id-connect-provider-arn": "aws iam add-client-id-to-open-id-connect-provider",
  "--client-id": "aws iam add-client-id-to-open-id-connect-provider",
  "--account-id": "aws s3control put-public-access-block",
  "--public-access-block-configuration": "aws s3control put-public-access-block",
  "--name": "kind create/delete cluster",
  "--config": "kind create cluster and kubeadm init phase",
  "--type": "kubectl create secret generic",
  "--from-file": "kubectl create secret generic",
  "--namespace": "the daemon container's own argument in install_manifests.ts",
  "--leader-elect": "the daemon container's own argument in install_manifests.ts",
  "--webhook-bind-address": "the daemon container's own argument in install_manifests.ts",
  "--metrics-bind-address": "the daemon container's own argument in install_manifests.ts",
  "--shutdown-drain": "the daemon container's own argument in install_manifests.ts",
  "--ol-s3": "an S3 reserved bucket-name suffix, not a flag",
  "--x-s3": "an S3 reserved bucket-name suffix, not a flag",
  "--table-s3": "an S3 reserved bucket-name suffix, not a flag",
};

/**
 * Modules whose text only the plugin prints. messages_test proves the daemon imports none of them, so a condition
 * can never carry their wording.
 */
const cliOnly: Record<string, string> = {
  "doctor.ts": "`kubectl irsa doctor` checks and their fixes; the daemon runs no doctor",
  "rotation.ts": "`kubectl irsa rotate-key` stages; the daemon never rotates keys",
  "rotate_key.ts": "`kubectl irsa rotate-key`; the daemon never rotates keys",
};

/** Modules the daemon imports for data only, while their prose is the plugin's output. */
const proseForCli: Record<string, { reason: string; daemonReads: string[] }> = {
  "apiserver_change.ts": {
    reason: "the steps and notes init prints name 'kubectl irsa init' and --distro; the daemon reads only flags",
    daemonReads: ["flags", "resultingFlags", "issuerAlreadyFirst"],
  },
};

/**
 * Flags that kubectl itself has and that the daemon takes under the same name, so the wording holds for both
 * (the kubeconfig rules are kubectl's).
 */
const kubectlFlags: Record<string, string> = {
  "--kubeconfig": "kubectl's flag; the daemon takes --kubeconfig too",
  "--context": "kubectl's flag; the daemon takes --context too",
  "--as": "kubectl's impersonation flag",
  "--request-timeout": "kubectl's flag; the daemon sets no request timeout, so only the plugin reaches it",
};

/** The text of every string and template literal in TypeScript source (comments and regexes skipped). */
export function literals(source: string): string[] {
  const out: string[] = [];
  let i = 0;
  const templateDepth: number[] = [];
  let braces = 0;
  let prev = "";
  const readQuoted = (q: string) => {
    let text = "";
    i++;
    while (i < source.length && source[i] !== q) {
      if (source[i] === "\\") text += source[i++];
      text += source[i++];
    }
    i++;
    out.push(text);
  };
  const readTemplate = () => {
    // from just after ` or } up to ` or ${
    let text = "";
    while (i < source.length) {
      const c = source[i]!;
      if (c === "\\") {
        text += c + source[i + 1];
        i += 2;
      } else if (c === "`") {
        i++;
        break;
      } else if (c === "$" && source[i + 1] === "{") {
        i += 2;
        templateDepth.push(braces);
        braces++;
        break;
      } else {
        text += c;
        i++;
      }
    }
    out.push(text);
  };
  while (i < source.length) {
    const c = source[i]!;
    if (c === "/" && source[i + 1] === "/") {
      while (i < source.length && source[i] !== "\n") i++;
    } else if (c === "/" && source[i + 1] === "*") {
      i = source.indexOf("*/", i + 2) + 2;
    } else if (c === "/" && /[(,=:[!&|?{};]|^$|return$/.test(prev)) {
      // A regex literal: skip it, classes included.
      i++;
      let inClass = false;
      while (i < source.length && (inClass || source[i] !== "/")) {
        if (source[i] === "\\") i++;
        else if (source[i] === "[") inClass = true;
        else if (source[i] === "]") inClass = false;
        i++;
      }
      i++;
      prev = "regex";
    } else if (c === '"' || c === "'") {
      readQuoted(c);
      prev = "str";
    } else if (c === "`") {
      i++;
      readTemplate();
      prev = "str";
    } else if (c === "}" && templateDepth.length > 0 && templateDepth.at(-1) === braces - 1) {
      templateDepth.pop();
      braces--;
      i++;
      readTemplate();
      prev = "str";
    } else {
      if (c === "{") braces++;
      if (c === "}") braces--;
      if (!/\s/.test(c)) prev = /\w/.test(c) ? (/\w$/.test(prev) ? prev + c : c) : c;
      i++;
    }
  }
  return out;
}

/** Our CLI's words in one literal: `--flag` tokens not of other programs, and `kubectl irsa` commands. */
export function cliWords(text: string, allowed: Record<string, string>): string[] {
  const words = [...text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]).filter((f) => !(f in allowed));
  if (/kubectl irsa /.test(text)) words.push("kubectl irsa");
  return words;
}

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory && e.name !== "testdata") yield* sources(path);
    else if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) yield path;
  }
}

Deno.test("literals() reads strings and templates and skips comments and regexes", () => {
  const src = [
    "// pass --adopt",
    "/* run 'kubectl irsa init' */",
    'const a = "x --y";',
    "const b = 'q';",
    'const r = s.replace(/[^\'"`]/g, "-");',
    "const t = `a ${f(`in ${1}`)} b`;",
    "const o = { k: 1 };",
  ].join("\n");
  deepStrictEqual(literals(src), ["x --y", "q", "-", "a ", "in ", "", " b"]);
});

Deno.test("no message in lib/ names a flag or command of the plugin", async () => {
  const found: string[] = [];
  for await (const path of sources(libDir)) {
    const file = relative(libDir, path);
    if (file in cliOnly || file in proseForCli) continue;
    const allowed = file.startsWith("kube/") ? { ...otherPrograms, ...kubectlFlags } : otherPrograms;
    for (const text of literals(await Deno.readTextFile(path))) {
      for (const w of cliWords(text, allowed)) found.push(`${file}: ${w} in ${JSON.stringify(text)}`);
    }
  }
  deepStrictEqual(found, [], "attach a Remedy (lib/errors.ts) instead of naming the flag");
});

Deno.test("the daemon imports none of the modules whose text only the plugin prints", async () => {
  const seen = new Set<string>();
  const walk = async (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    const text = await Deno.readTextFile(path);
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+\.ts)"/g)) {
      await walk(resolve(dirname(path), m[1]!));
    }
  };
  for await (const e of Deno.readDir(join(root, "daemon"))) {
    if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) await walk(join(root, "daemon", e.name));
  }
  const reached = Object.keys(cliOnly).filter((f) => seen.has(join(libDir, f)));
  deepStrictEqual(reached, []);
  equal(seen.size > 10, true, "the walk found the daemon's modules");
});

Deno.test("the daemon reads only data, never prose, of the modules whose prose is the plugin's", async () => {
  for (const [file, { daemonReads }] of Object.entries(proseForCli)) {
    const module = `lib/${file}`;
    for await (const e of Deno.readDir(join(root, "daemon"))) {
      if (!e.name.endsWith(".ts") || e.name.endsWith("_test.ts")) continue;
      const text = await Deno.readTextFile(join(root, "daemon", e.name));
      if (!text.includes(module)) continue;
      const read = [...text.matchAll(/\bchange\.(\w+)/g)].map((m) => m[1]!);
      deepStrictEqual(read.filter((f) => !daemonReads.includes(f)), [], `${e.name} reads ${module}`);
    }
  }
});
