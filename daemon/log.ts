// The daemon's logger: one JSON object per line on stderr, Kubernetes style messages. Never pass secrets here.

/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A structured logger. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** A logger writing JSON lines at or above `level` to `write` (stderr by default). */
export function jsonLogger(
  level: LogLevel = "info",
  write: (line: string) => void = (line) => Deno.stderr.writeSync(new TextEncoder().encode(line)),
): Logger {
  const emit = (l: LogLevel) => (msg: string, fields: Record<string, unknown> = {}) => {
    if (order[l] < order[level]) return;
    const extra = Object.fromEntries(
      Object.entries(fields).map(([k, v]) => [k, v instanceof Error ? v.message : v]),
    );
    write(JSON.stringify({ ts: new Date().toISOString(), level: l, msg, ...extra }) + "\n");
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}
