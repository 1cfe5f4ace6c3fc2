import { equal } from "node:assert/strict";
import { SignatureV4 } from "@smithy/signature-v4";
import { NodeSha256 } from "./_node_sha256.ts";
import { amzDate, signRequest, uriEncode } from "./sigv4.ts";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const now = new Date("2015-08-30T12:36:00Z");

Deno.test("signRequest matches AWS's published get-vanilla test vector", async () => {
  const headers = await signRequest({
    method: "GET",
    url: new URL("https://example.amazonaws.com/"),
    headers: {},
    body: "",
    credentials,
    region: "us-east-1",
    service: "service",
    now,
  });
  equal(
    headers.authorization,
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
  );
});

Deno.test("signRequest agrees with the SDK's signer on a query POST, with and without a session token", async (t) => {
  // The last step changes the secret under the same scope: the cached signing key must not be reused for it.
  const cases: [string, string | undefined, string][] = [
    ["long-term keys", undefined, credentials.secretAccessKey],
    ["session token", "token/with+chars=", credentials.secretAccessKey],
    ["another secret, same scope", undefined, "another-secret"],
  ];
  for (const [name, sessionToken, secretAccessKey] of cases) {
    await t.step(name, async () => {
      const keys = { ...credentials, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
      const url = new URL("https://127.0.0.1:8443/");
      const body = "Action=GetRole&Version=2010-05-08&RoleName=app%20role";
      const ours = await signRequest({
        method: "POST",
        url,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
        credentials: keys,
        region: "eu-west-1",
        service: "iam",
        now,
      });
      const sdk = await new SignatureV4({
        credentials: keys,
        region: "eu-west-1",
        service: "iam",
        sha256: NodeSha256,
        applyChecksum: false,
      })
        .sign({
          method: "POST",
          protocol: "https:",
          hostname: url.hostname,
          port: 8443,
          path: "/",
          headers: { "content-type": "application/x-www-form-urlencoded", host: url.host },
          body,
          query: {},
        }, { signingDate: now });
      equal(ours.authorization, sdk.headers["authorization"]);
      equal(ours["x-amz-security-token"], sdk.headers["x-amz-security-token"]);
    });
  }
});

Deno.test("uriEncode and amzDate follow SigV4's spelling", () => {
  equal(uriEncode("a b/c*!'()~"), "a%20b%2Fc%2A%21%27%28%29~");
  equal(amzDate(now), "20150830T123600Z");
});
