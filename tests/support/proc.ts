// Process helpers for the harness: run a command to completion, and locate the user cache directory.

/** The user cache directory for harness binaries and logs; `KUBECTL_IRSA_CACHE` overrides it. */
export function cacheDir(): string {
  const explicit = Deno.env.get("KUBECTL_IRSA_CACHE");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? "/tmp";
  return `${xdg ?? `${home}/.cache`}/kubectl-irsa`;
}

/** Runs a command, returns its stdout, and throws with the stderr tail when it fails. */
export async function runChecked(
  argv: string[],
  options: { cwd?: string; env?: Record<string, string>; progress?: string } = {},
): Promise<string> {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = options.progress
    ? setInterval(() => console.error(`harness: ${options.progress} still running…`), 60_000)
    : undefined;
  try {
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      const tail = new TextDecoder().decode(out.stderr).split("\n").slice(-30).join("\n");
      throw new Error(`${argv.join(" ")} failed with exit ${out.code}:\n${tail}`);
    }
    return stdout;
  } finally {
    if (timer) clearInterval(timer);
  }
}
