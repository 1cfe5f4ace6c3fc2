import { equal } from "node:assert/strict";
import { asNetworkError, errnoOfFetchError } from "./network_error.ts";

Deno.test("errnoOfFetchError() names the OS error of Deno's fetch failures", async (t) => {
  const cases: [string, string | undefined][] = [
    [
      "error sending request for url (https://127.0.0.1:1/): client error (Connect): tcp connect error: Connection refused (os error 111)",
      "ECONNREFUSED",
    ],
    ["error sending request: connection closed before message completed", "ECONNRESET"],
    ["client error (SendRequest): connection error: Connection reset by peer (os error 104)", "ECONNRESET"],
    ["client error (Connect): dns error: failed to lookup address information", "ENOTFOUND"],
    ["tcp connect error: Connection timed out (os error 110)", "ETIMEDOUT"],
    ["tcp connect error: No route to host (os error 113)", "EHOSTUNREACH"],
    ["invalid URL", undefined],
  ];
  for (const [message, code] of cases) await t.step(message, () => equal(errnoOfFetchError(message), code));
});

Deno.test("asNetworkError() gives a fetch failure Node's code and keeps everything else as it is", () => {
  const refused = asNetworkError(new TypeError("tcp connect error: Connection refused (os error 111)")) as {
    code?: string;
    message: string;
  };
  equal(refused.code, "ECONNREFUSED");
  equal(refused.message, "ECONNREFUSED: tcp connect error: Connection refused (os error 111)");
  const detail =
    "error sending request for url (https://127.0.0.1:5999/): client error (Connect): tcp connect error: " +
    "Connection refused (os error 111)";
  const wrapped = asNetworkError(new TypeError("fetch failed", { cause: new Error(detail) })) as {
    code?: string;
    message: string;
  };
  equal(wrapped.code, "ECONNREFUSED", "Deno 2.9 puts the detail in the cause");
  equal(wrapped.message, `ECONNREFUSED: ${detail}`);
  const abort = new DOMException("aborted", "AbortError");
  equal(asNetworkError(abort), abort);
  const other = new TypeError("Invalid header value");
  equal(asNetworkError(other), other);
});
