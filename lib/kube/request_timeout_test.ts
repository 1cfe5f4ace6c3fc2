import { equal } from "node:assert/strict";
import { goDuration, parseRequestTimeout } from "./request_timeout.ts";

Deno.test("parseRequestTimeout() reads --request-timeout as kubectl does", async (t) => {
  const cases: [string, number | undefined][] = [
    ["0", 0],
    ["0s", 0],
    ["30", 30_000],
    ["30s", 30_000],
    ["1m", 60_000],
    ["1m30s", 90_000],
    ["1.5s", 1500],
    ["500ms", 500],
    ["2h", 7_200_000],
    ["+5s", 5000],
    ["", undefined],
    ["-1s", undefined],
    ["-1", undefined],
    ["1.5", undefined],
    ["5x", undefined],
    ["1d", undefined],
    ["s", undefined],
  ];
  for (const [text, want] of cases) {
    await t.step(JSON.stringify(text), () => equal(parseRequestTimeout(text), want));
  }
});

Deno.test("goDuration() prints like Go's time.Duration.String()", async (t) => {
  const cases: [number, string][] = [
    [0, "0s"],
    [200, "200ms"],
    [1500, "1.5s"],
    [30_000, "30s"],
    [60_000, "1m0s"],
    [90_000, "1m30s"],
    [3_600_000, "1h0m0s"],
    [0.5, "500µs"],
  ];
  for (const [ms, want] of cases) await t.step(want, () => equal(goDuration(ms), want));
});
