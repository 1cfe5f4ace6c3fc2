// The SDK's signer (with S3's settings) is the oracle for signatures; a recording fetch stands in for S3.
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { SignatureV4 } from "@smithy/signature-v4";
import { createHash } from "node:crypto";
import { NodeSha256 } from "./_node_sha256.ts";
import { CallLog } from "./call_log.ts";
import { createS3Client, createS3ControlClient, s3Url, xmlEscape } from "./s3_client.ts";
import { parseBlock, parseTagging } from "./s3_port.ts";

const keys = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret/key+", sessionToken: "tok=en" };
const now = Date.parse("2026-12-03T10:00:00Z");

interface Sent {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

function recorder(answers: Response[] = []) {
  const sent: Sent[] = [];
  const fetch = (url: URL, init: RequestInit) => {
    sent.push({
      url,
      method: init.method!,
      headers: init.headers as Record<string, string>,
      body: init.body as string | undefined,
    });
    return Promise.resolve(answers.shift() ?? new Response("", { status: 200 }));
  };
  return { sent, fetch };
}

function client(fetch: (url: URL, init: RequestInit) => Promise<Response>, endpoint = { pathStyle: false }) {
  const calls = new CallLog();
  return {
    calls,
    s3: createS3Client({
      region: "eu-west-1",
      endpoint,
      credentials: () => Promise.resolve(keys),
      fetch,
      timeoutMs: 1000,
      maxAttempts: 3,
      calls,
      sleep: () => Promise.resolve(),
      random: () => 0,
      now: () => now,
    }),
  };
}

Deno.test("s3Url addresses buckets as the SDK does: virtual-hosted, path-style, IP endpoints, dotted names", () => {
  const r = "eu-west-1";
  const url = (e: { url?: string; pathStyle: boolean }, bucket: string, key?: string, query?: Record<string, string>) =>
    s3Url(e, r, { bucket, ...(key !== undefined ? { key } : {}), ...(query ? { query } : {}) }).href;
  equal(url({ pathStyle: false }, "oidc", "a b/keys.json"), "https://oidc.s3.eu-west-1.amazonaws.com/a%20b/keys.json");
  equal(
    url({ pathStyle: false }, "oidc", undefined, { tagging: "" }),
    "https://oidc.s3.eu-west-1.amazonaws.com/?tagging",
  );
  equal(
    url({ pathStyle: true }, "oidc", ".well-known/openid-configuration"),
    "https://s3.eu-west-1.amazonaws.com/oidc/.well-known/openid-configuration",
  );
  equal(url({ url: "https://127.0.0.1:4566", pathStyle: false }, "oidc", "k"), "https://127.0.0.1:4566/oidc/k");
  equal(url({ url: "https://minio.example:9000", pathStyle: false }, "oidc", "k"), "https://oidc.minio.example:9000/k");
  equal(url({ pathStyle: false }, "my.dotted.bucket", "k"), "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/k");
  equal(s3Url({ pathStyle: false }, "cn-north-1", { bucket: "bkt" }).host, "bkt.s3.cn-north-1.amazonaws.com.cn");
  equal(url({ pathStyle: true }, "b", "k+=&?#"), "https://s3.eu-west-1.amazonaws.com/b/k%2B%3D%26%3F%23");
});

Deno.test("an S3 request is signed as the SDK's signer signs it with S3's settings", async (t) => {
  const cases = [
    {
      name: "PUT with a subresource and Content-MD5",
      method: "PUT" as const,
      key: undefined,
      query: { tagging: "" },
      body: "<Tagging/>",
      md5: true,
    },
    {
      name: "PUT of a key that needs encoding",
      method: "PUT" as const,
      key: "dir/a b+c.json",
      query: undefined,
      body: "{}",
      md5: false,
    },
    {
      name: "GET of an object",
      method: "GET" as const,
      key: "keys.json",
      query: undefined,
      body: undefined,
      md5: false,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const { sent, fetch } = recorder();
      const { s3 } = client(fetch, { pathStyle: true });
      await s3.send("Op", {
        method: c.method,
        bucket: "oidc",
        ...(c.key ? { key: c.key } : {}),
        ...(c.query ? { query: c.query } : {}),
        ...(c.body !== undefined ? { body: c.body } : {}),
        headers: { "x-amz-expected-bucket-owner": "123456789012" },
        md5: c.md5,
      });
      const req = sent[0]!;
      const body = c.body ?? "";
      equal(req.headers["x-amz-content-sha256"], createHash("sha256").update(body).digest("hex"));
      if (c.md5) equal(req.headers["content-md5"], createHash("md5").update(body).digest("base64"));
      const { authorization: _a, "x-amz-date": _d, "x-amz-security-token": _t, ...given } = req.headers;
      const sdk = await new SignatureV4({
        credentials: keys,
        region: "eu-west-1",
        service: "s3",
        sha256: NodeSha256,
        uriEscapePath: false,
        applyChecksum: true,
      }).sign({
        method: c.method,
        protocol: "https:",
        hostname: req.url.hostname,
        path: req.url.pathname,
        headers: { ...given, host: req.url.host },
        body,
        // The SDK's S3 client passes a subresource as an empty string.
        query: Object.fromEntries(req.url.searchParams),
      }, { signingDate: new Date(now) });
      equal(req.headers.authorization, sdk.headers["authorization"]);
      equal(req.headers["x-amz-security-token"], keys.sessionToken);
      equal(req.body, c.method === "GET" ? undefined : body);
    });
  }
});

Deno.test("a request without a body sends none, so fetch adds no text/plain Content-Type", async () => {
  const { sent, fetch } = recorder();
  await client(fetch).s3.send("DeleteObject", { method: "DELETE", bucket: "bkt", key: "k" });
  equal(sent[0]!.body, undefined);
});

Deno.test("S3 errors: XML codes, body-less HEAD answers named as the SDK names them, retries, the call log", async () => {
  const error = (status: number, code: string) =>
    new Response(`<?xml version="1.0"?><Error><Code>${code}</Code><Message>m &amp; n</Message></Error>`, { status });
  {
    const { fetch } = recorder([error(404, "NoSuchKey")]);
    const { s3, calls } = client(fetch);
    await rejects(
      s3.send("GetObject", { method: "GET", bucket: "b", key: "k" }),
      (e: Error & { $metadata: { httpStatusCode: number } }) => {
        deepStrictEqual([e.name, e.message, e.$metadata.httpStatusCode], ["NoSuchKey", "m & n", 404]);
        return true;
      },
    );
    deepStrictEqual(calls.calls.map((c) => [c.service, c.operation, c.outcome]), [["s3", "GetObject", "error"]]);
  }
  for (const [status, name] of [[404, "NotFound"], [403, "Forbidden"], [301, "MovedPermanently"]] as const) {
    const { fetch } = recorder([new Response(null, { status })]);
    await rejects(client(fetch).s3.send("HeadBucket", { method: "HEAD", bucket: "b" }), { name });
  }
  {
    const { sent, fetch } = recorder([error(503, "SlowDown"), error(500, "InternalError"), new Response("ok")]);
    const { s3, calls } = client(fetch);
    equal((await s3.send("PutObject", { method: "PUT", bucket: "b", key: "k", body: "x" })).text, "ok");
    equal(sent.length, 3, "retried twice");
    deepStrictEqual(calls.calls.map((c) => [c.operation, c.write, c.outcome]), [["PutObject", true, "ok"]]);
  }
  {
    const { sent, fetch } = recorder([error(403, "AccessDenied")]);
    await rejects(client(fetch).s3.send("PutObject", { method: "PUT", bucket: "b", key: "k" }), {
      name: "AccessDenied",
    });
    equal(sent.length, 1, "not retried");
  }
});

Deno.test("S3 Control reads the account's public access block at its account host, or the custom endpoint", async () => {
  for (
    const [endpointUrl, want] of [
      [undefined, "https://123456789012.s3-control.eu-west-1.amazonaws.com/v20180820/configuration/publicAccessBlock"],
      ["https://127.0.0.1:4566", "https://127.0.0.1:4566/v20180820/configuration/publicAccessBlock"],
    ] as const
  ) {
    const { sent, fetch } = recorder([
      new Response(
        "<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlockConfiguration>",
      ),
    ]);
    const calls = new CallLog();
    const control = createS3ControlClient({
      region: "eu-west-1",
      ...(endpointUrl ? { endpointUrl } : {}),
      credentials: () => Promise.resolve(keys),
      fetch,
      timeoutMs: 1000,
      maxAttempts: 1,
      calls,
    });
    const answer = await control.getPublicAccessBlock("123456789012");
    equal(sent[0]!.url.href, want);
    equal(sent[0]!.headers["x-amz-account-id"], "123456789012");
    ok(sent[0]!.headers.authorization!.includes("/eu-west-1/s3/aws4_request"), "signed as s3");
    deepStrictEqual(parseBlock(answer.text), {
      BlockPublicAcls: true,
      IgnorePublicAcls: false,
      BlockPublicPolicy: false,
      RestrictPublicBuckets: false,
    });
    deepStrictEqual(calls.calls.map((c) => [c.service, c.operation]), [["s3control", "GetPublicAccessBlock"]]);
  }
});

Deno.test("tags and XML text round-trip through the escaping and the parser", () => {
  const value = `a&b<c>"d'e`;
  const xml = `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>k</Key><Value>${
    xmlEscape(value)
  }</Value></Tag><Tag><Key>empty</Key><Value></Value></Tag></TagSet></Tagging>`;
  deepStrictEqual(parseTagging(xml), { k: value, empty: "" });
});
