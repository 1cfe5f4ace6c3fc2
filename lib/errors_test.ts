import { equal } from "node:assert/strict";
import { IrsaError, isRetryable } from "./errors.ts";

Deno.test("isRetryable() retries what may pass by itself and nothing that needs an edit", async (t) => {
  const cases: { name: string; error: unknown; want: boolean }[] = [
    {
      name: "an error's own decision wins over its kind",
      error: new IrsaError("conflict", "ConcurrentModification", "x", { retryable: true }),
      want: true,
    },
    {
      name: "an AWS code known to be permanent stays terminal even when unavailable",
      error: new IrsaError("unavailable", "NotImplemented", "x", { retryable: false }),
      want: false,
    },
    { name: "a Kubernetes 5xx, 429 or timeout", error: new IrsaError("unavailable", "Http503", "x"), want: true },
    {
      name: "a Kubernetes optimistic-concurrency conflict",
      error: new IrsaError("conflict", "Http409", "x"),
      want: true,
    },
    { name: "a Kubernetes 422", error: new IrsaError("invalid", "Http422", "x"), want: false },
    { name: "a Kubernetes 403", error: new IrsaError("denied", "Http403", "x"), want: false },
    {
      name: "a role that is not ours (a decision)",
      error: new IrsaError("conflict", "RoleNotOwned", "x"),
      want: false,
    },
    { name: "a policy that does not exist", error: new IrsaError("invalid", "PolicyNotFound", "x"), want: false },
    { name: "an error that is not ours", error: new TypeError("boom"), want: true },
  ];
  for (const c of cases) await t.step(c.name, () => equal(isRetryable(c.error), c.want));
});
