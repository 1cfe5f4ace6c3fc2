// A server process started by the harness: its output goes to a log file, it is stopped by PID, and readiness
// is polled with a timeout whose error carries the log tail.

/** A running server the harness started. */
export class ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  readonly #child: Deno.ChildProcess;
  #exited: Deno.CommandStatus | undefined;

  private constructor(name: string, child: Deno.ChildProcess, logPath: string) {
    this.name = name;
    this.#child = child;
    this.pid = child.pid;
    this.logPath = logPath;
    child.status.then((s) => this.#exited = s);
  }

  /** Starts `argv` with stdout and stderr appended to `logPath`. */
  static start(name: string, argv: string[], options: { logPath: string; env?: Record<string, string> }) {
    // exec keeps the PID of the shell, so stopping by PID reaches the server itself.
    const child = new Deno.Command("sh", {
      args: ["-c", 'exec "$0" "$@" >>"$HARNESS_LOG" 2>&1', ...argv],
      env: { ...options.env, HARNESS_LOG: options.logPath },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    registerPid(child.pid);
    return new ServerProcess(name, child, options.logPath);
  }

  /** The last lines of the server's log. */
  async logTail(lines = 40): Promise<string> {
    const text = await Deno.readTextFile(this.logPath).catch(() => "");
    return text.split("\n").slice(-lines).join("\n");
  }

  /** Polls `probe` until it returns true; throws with the log tail on timeout or early exit. */
  async waitReady(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#exited) {
        throw new Error(`${this.name} exited with ${this.#exited.code} before it was ready; log tail:\n${await this
          .logTail()}`);
      }
      if (await probe().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`${this.name} was not ready within ${timeoutMs / 1000}s; log tail:\n${await this.logTail()}`);
  }

  /** Sends SIGTERM to the PID, then SIGKILL if it is still alive after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.#exited) {
      try {
        Deno.kill(this.pid, "SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          Deno.kill(this.pid, "SIGKILL");
        } catch { /* already gone */ }
      }, graceMs);
      await this.#child.status;
      clearTimeout(timer);
    }
    unregisterPid(this.pid);
  }

  /** Kills the process at once, as a crash would. */
  async kill(): Promise<void> {
    try {
      Deno.kill(this.pid, "SIGKILL");
    } catch { /* already gone */ }
    await this.#child.status;
    unregisterPid(this.pid);
  }
}

const livePids = new Set<number>();
let exitHookInstalled = false;
const interruptHooks = new Set<() => Promise<void>>();

/**
 * Runs `hook` (at most 2 minutes) when the run is interrupted, before the remaining servers are killed: the
 * sandbox stops its node through the apiserver and restores the host. Returns the function that removes it.
 */
export function addInterruptHook(hook: () => Promise<void>): () => void {
  interruptHooks.add(hook);
  return () => interruptHooks.delete(hook);
}

function registerPid(pid: number): void {
  livePids.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a run ends early: no server outlives the Deno process that started it, whether it exits
  // normally or is interrupted.
  const killAll = () => {
    for (const p of livePids) {
      try {
        Deno.kill(p, "SIGKILL");
      } catch { /* already gone */ }
    }
    livePids.clear();
  };
  globalThis.addEventListener("unload", killAll);
  let interrupted = false;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    Deno.addSignalListener(signal, async () => {
      // A second signal does not wait for the hooks.
      if (!interrupted && interruptHooks.size > 0) {
        interrupted = true;
        const hooks = [...interruptHooks].map((h) => h().catch((e) => console.error(`harness: on interrupt: ${e}`)));
        await Promise.race([Promise.all(hooks), new Promise((r) => setTimeout(r, 120_000))]);
      }
      killAll();
      Deno.exit(code);
    });
  }
}

function unregisterPid(pid: number): void {
  livePids.delete(pid);
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
