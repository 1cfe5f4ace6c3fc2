import { equal } from "node:assert/strict";
import type { CheckResult } from "../lib/doctor.ts";
import { renderChecks } from "./doctor.ts";

const checks: CheckResult[] = [
  { id: "setup", title: "Setup recorded", ok: true, detail: "issuer https://x/b" },
  {
    id: "jwks",
    title: "jwks_uri resolves",
    ok: false,
    detail: "GET https://x/b/keys.json answered HTTP 404",
    fix: "run init",
  },
  { id: "webhook", title: "Webhook", ok: false, warning: true, detail: "not installed", fix: "run install" },
];

Deno.test("renderChecks() prints one line per check, the fix under failures and a summary", () => {
  equal(
    renderChecks(checks, { colour: false }),
    [
      "✓ Setup recorded",
      "✗ jwks_uri resolves: GET https://x/b/keys.json answered HTTP 404",
      "  fix: run init",
      "! Webhook: not installed",
      "  fix: run install",
      "3 checks: 1 passed, 1 failed, 1 warning",
      "",
    ].join("\n"),
  );
});

Deno.test("renderChecks() colours the marks only when asked", () => {
  const text = renderChecks(checks.slice(0, 1), { colour: true });
  equal(text, "\x1b[32m✓\x1b[0m Setup recorded\n1 check: 1 passed, 0 failed, 0 warnings\n");
});
