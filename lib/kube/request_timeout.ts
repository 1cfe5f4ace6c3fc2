// kubectl's --request-timeout: a bare integer is seconds, otherwise a Go duration ("1m30s", "1.5s", "500ms");
// 0 means no timeout. Pure, so the CLI rejects a bad value before it connects.

const units: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds of a --request-timeout value, or undefined when kubectl would reject it (negatives too). */
export function parseRequestTimeout(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const body = text.startsWith("+") ? text.slice(1) : text;
  if (!/^((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$/.test(body)) return undefined;
  let total = 0;
  for (const m of body.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]!]!;
  return Number.isFinite(total) ? total : undefined;
}

/** A duration as Go's time.Duration.String() prints it (`30s`, `1m0s`, `1.5s`, `500ms`): the `timeout` query value. */
export function goDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) {
    const us = Math.round(ms * 1000);
    return us % 1000 === 0 ? `${us / 1000}ms` : us >= 1000 ? `${trim(us / 1000)}ms` : `${us}µs`;
  }
  const totalMs = Math.round(ms);
  const h = Math.floor(totalMs / 3_600_000);
  const m = Math.floor((totalMs % 3_600_000) / 60_000);
  const s = (totalMs % 60_000) / 1000;
  const sec = `${trim(s)}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

function trim(n: number): string {
  return String(Number(n.toFixed(3)));
}
