import { deepStrictEqual, equal } from "node:assert/strict";
import { denoProxy, nodeTransportReason, type TransportSettings } from "./transport.ts";

Deno.test("nodeTransportReason() keeps Deno's fetch unless it would send something else than kubectl", async (t) => {
  const cases: [string, TransportSettings, string | undefined][] = [
    ["a CA and a client certificate", { caPem: "ca", clientCertPem: "c", clientKeyPem: "k" }, undefined],
    ["a proxy-url", { proxyUrl: "http://p:1" }, undefined],
    ["insecure-skip-tls-verify", { insecureSkipTlsVerify: true }, "insecure-skip-tls-verify"],
    ["tls-server-name", { tlsServerName: "api.internal" }, "tls-server-name"],
    ["several impersonated groups", { repeatedHeaders: true }, "repeated impersonation headers"],
    [
      "an environment proxy Go would not use",
      { fetchWouldProxy: true },
      "a proxy environment variable that does not apply to this server",
    ],
    [
      "an environment proxy Go uses too (passed explicitly)",
      { fetchWouldProxy: true, proxyUrl: "http://p:1" },
      undefined,
    ],
  ];
  for (const [name, settings, want] of cases) await t.step(name, () => equal(nodeTransportReason(settings), want));
});

Deno.test("denoProxy() moves credentials to basicAuth and lets a SOCKS5 proxy resolve names, like Go", () => {
  deepStrictEqual(denoProxy("http://u%40x:p%3Aw@proxy:3128"), {
    transport: "http",
    url: "http://proxy:3128",
    basicAuth: { username: "u@x", password: "p:w" },
  });
  deepStrictEqual(denoProxy("https://proxy:443"), { transport: "https", url: "https://proxy" });
  deepStrictEqual(denoProxy("socks5://proxy:1080"), { transport: "socks5", url: "socks5h://proxy:1080" });
});
