import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { CallLog } from "./call_log.ts";
import {
  AwsServiceError,
  createQueryClient,
  errorFromAnswer,
  queryBody,
  type QueryClientOptions,
  retryDelayMs,
  retryKind,
  RetryQuota,
} from "./query_client.ts";

Deno.test("queryBody flattens SDK-shaped input the way the query protocol spells it", () => {
  const body = queryBody("CreateRole", "2010-05-08", {
    RoleName: "app role",
    MaxSessionDuration: 3600,
    Tags: [{ Key: "a", Value: "x&y" }, { Key: "b", Value: "" }],
    ClientIDList: ["sts.amazonaws.com"],
    ThumbprintList: [],
    Skipped: undefined,
  });
  deepStrictEqual(body.split("&"), [
    "Action=CreateRole",
    "Version=2010-05-08",
    "RoleName=app%20role",
    "MaxSessionDuration=3600",
    "Tags.member.1.Key=a",
    "Tags.member.1.Value=x%26y",
    "Tags.member.2.Key=b",
    "Tags.member.2.Value=",
    "ClientIDList.member.1=sts.amazonaws.com",
    "ThumbprintList=",
  ]);
});

Deno.test("errorFromAnswer reads the code, message and request id, or names the status alone", async (t) => {
  const cases: [string, number, string, { name: string; message: string; requestId?: string }][] = [
    [
      "IAM's ErrorResponse",
      404,
      `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The role with name x cannot be found.</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`,
      { name: "NoSuchEntity", message: "The role with name x cannot be found.", requestId: "r-1" },
    ],
    [
      "a nested Errors list",
      400,
      `<Response><Errors><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></Errors><RequestID>r</RequestID></Response>`,
      { name: "Throttling", message: "Rate exceeded" },
    ],
    ["a proxy's HTML page", 502, "<html><body>Bad Gateway</body>", {
      name: "Unknown",
      message: "HTTP 502 with no error code",
    }],
    ["an empty body", 503, "", { name: "Unknown", message: "HTTP 503 with no error code" }],
  ];
  for (const [name, status, body, want] of cases) {
    await t.step(name, () => {
      const e = errorFromAnswer(status, body);
      equal(e.name, want.name);
      equal(e.Code, want.name);
      equal(e.message, want.message);
      equal(e.$metadata.httpStatusCode, status);
      if (want.requestId) equal(e.$metadata.requestId, want.requestId);
    });
  }
});

Deno.test("retryKind follows the SDK's standard mode", async (t) => {
  const cases: [string, unknown, string][] = [
    ["Throttling", new AwsServiceError("Throttling", "", 400), "throttling"],
    ["HTTP 429", new AwsServiceError("Unknown", "", 429), "throttling"],
    ["503 without a code", new AwsServiceError("Unknown", "", 503), "transient"],
    ["ServiceFailure 500", new AwsServiceError("ServiceFailure", "", 500), "transient"],
    ["a timeout", Object.assign(new Error("slow"), { name: "TimeoutError" }), "transient"],
    ["ECONNRESET", Object.assign(new Error("reset"), { code: "ECONNRESET" }), "transient"],
    ["ENOTFOUND (a DNS failure)", Object.assign(new Error("dns"), { code: "ENOTFOUND" }), "transient"],
    ["ConcurrentModification (the caller's decision)", new AwsServiceError("ConcurrentModification", "", 409), "none"],
    ["NoSuchEntity", new AwsServiceError("NoSuchEntity", "", 404), "none"],
    ["AccessDenied", new AwsServiceError("AccessDenied", "", 403), "none"],
    ["a credentials error", Object.assign(new Error("no keys"), { name: "CredentialsProviderError" }), "none"],
  ];
  for (const [name, error, want] of cases) await t.step(name, () => equal(retryKind(error), want));
});

Deno.test("retryDelayMs is full-jitter exponential from 100 ms (500 ms throttled), capped at 20 s", () => {
  equal(retryDelayMs(0, "transient", 1), 100);
  equal(retryDelayMs(2, "transient", 0.5), 200);
  equal(retryDelayMs(1, "throttling", 1), 1000);
  equal(retryDelayMs(10, "throttling", 1), 20_000);
  equal(retryDelayMs(3, "transient", 0), 0);
});

Deno.test("RetryQuota stops retries when spent and refills on success", () => {
  const quota = new RetryQuota();
  let taken = 0;
  while (quota.take(5)) taken++;
  equal(taken, 100);
  quota.refund(5);
  ok(quota.take(5));
  ok(!quota.take(5));
});

/** A loopback server answering from a script, one entry per request, and remembering what it got. */
function scriptedServer(script: ((req: Request, body: string) => Response | Promise<Response>)[]) {
  const seen: { headers: Headers; body: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    seen.push({ headers: req.headers, body });
    const step = script[Math.min(seen.length, script.length) - 1]!;
    return await step(req, body);
  });
  return { server, seen, url: new URL(`http://127.0.0.1:${server.addr.port}/`) };
}

const xml = (body: string, status = 200, headers: Record<string, string> = {}) =>
  new Response(body, { status, headers: { "content-type": "text/xml", ...headers } });
const roleAnswer = xml(
  `<GetRoleResponse><GetRoleResult><Role><RoleName>app</RoleName></Role></GetRoleResult></GetRoleResponse>`,
);
const throttled = () =>
  xml(`<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`, 400);

function client(url: URL, extra: Partial<QueryClientOptions> = {}) {
  const calls = new CallLog();
  const sleeps: number[] = [];
  const http = Deno.createHttpClient({});
  const c = createQueryClient({
    service: "iam",
    version: "2010-05-08",
    endpoint: url,
    signingRegion: "us-east-1",
    credentials: () => Promise.resolve({ accessKeyId: "AKID", secretAccessKey: "secret", sessionToken: "tok" }),
    fetch: (u, init) => fetch(u, { ...init, client: http }),
    timeoutMs: 5_000,
    maxAttempts: 3,
    calls,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    random: () => 1,
    ...extra,
  });
  return { c, calls, sleeps, close: () => http.close() };
}

Deno.test("a query call is signed, form-encoded, parsed and counted once", async () => {
  const s = scriptedServer([() => roleAnswer.clone()]);
  const { c, calls, close } = client(s.url);
  try {
    const out = await c.call("GetRole", { RoleName: "app" });
    deepStrictEqual(out, { Role: { RoleName: "app" } });
    const [got] = s.seen;
    equal(got!.body, "Action=GetRole&Version=2010-05-08&RoleName=app");
    equal(got!.headers.get("content-type"), "application/x-www-form-urlencoded");
    ok(got!.headers.get("authorization")?.startsWith("AWS4-HMAC-SHA256 Credential=AKID/"));
    ok(got!.headers.get("authorization")?.includes("/us-east-1/iam/aws4_request"));
    equal(got!.headers.get("x-amz-security-token"), "tok");
    deepStrictEqual(calls.calls, [{ service: "iam", operation: "GetRole", write: false, outcome: "ok" }]);
  } finally {
    close();
    await s.server.shutdown();
  }
});

Deno.test("an unsigned call sends no credentials", async () => {
  const s = scriptedServer([() => xml("<AssumeRoleWithWebIdentityResponse/>")]);
  const { c, close } = client(s.url, { credentials: () => Promise.reject(new Error("must not be asked")) });
  try {
    deepStrictEqual(await c.call("AssumeRoleWithWebIdentity", { WebIdentityToken: "jwt" }, { unsigned: true }), {});
    equal(s.seen[0]!.headers.get("authorization"), null);
  } finally {
    close();
    await s.server.shutdown();
  }
});

Deno.test("retries: what is retried, how often, with which backoff, and what reaches the caller", async (t) => {
  const cases: {
    name: string;
    script: (() => Response | Promise<Response>)[];
    attempts: number;
    sleeps: number[];
    error?: { name: string; status?: number };
  }[] = [
    {
      name: "throttled twice, then answered",
      script: [throttled, throttled, () => roleAnswer.clone()],
      attempts: 3,
      sleeps: [500, 1000],
    },
    {
      name: "503 every time: gives up after maxAttempts",
      script: [() => new Response("", { status: 503 })],
      attempts: 3,
      sleeps: [100, 200],
      error: { name: "Unknown", status: 503 },
    },
    {
      name: "NoSuchEntity is an answer, not retried",
      script: [() => xml("<ErrorResponse><Error><Code>NoSuchEntity</Code></Error></ErrorResponse>", 404)],
      attempts: 1,
      sleeps: [],
      error: { name: "NoSuchEntity", status: 404 },
    },
    {
      name: "ConcurrentModification is left to the caller",
      script: [() => xml("<ErrorResponse><Error><Code>ConcurrentModification</Code></Error></ErrorResponse>", 409)],
      attempts: 1,
      sleeps: [],
      error: { name: "ConcurrentModification", status: 409 },
    },
  ];
  for (const tc of cases) {
    await t.step(tc.name, async () => {
      const s = scriptedServer(tc.script);
      const { c, calls, sleeps, close } = client(s.url);
      try {
        const result = c.call("GetRole", { RoleName: "app" });
        if (tc.error) {
          await rejects(result, (e: AwsServiceError) => {
            equal(e.name, tc.error!.name);
            equal(e.$metadata.httpStatusCode, tc.error!.status);
            return true;
          });
        } else {
          await result;
        }
        equal(s.seen.length, tc.attempts);
        deepStrictEqual(sleeps, tc.sleeps);
        equal(calls.calls.length, 1);
        equal(calls.calls[0]!.outcome, tc.error ? "error" : "ok");
      } finally {
        close();
        await s.server.shutdown();
      }
    });
  }
});

Deno.test("a stalled answer times out as TimeoutError and is retried", async () => {
  let stalled = 0;
  const s = scriptedServer([async () => {
    stalled++;
    await new Promise((r) => setTimeout(r, 400));
    return roleAnswer.clone();
  }]);
  const { c, close } = client(s.url, { timeoutMs: 100, maxAttempts: 2 });
  try {
    await rejects(c.call("GetRole", { RoleName: "app" }), (e: Error) => {
      equal(e.name, "TimeoutError");
      ok(e.message.includes("within 100 ms"), e.message);
      return true;
    });
    equal(stalled, 2);
  } finally {
    close();
    await new Promise((r) => setTimeout(r, 400));
    await s.server.shutdown();
  }
});

Deno.test("a refused connection is ECONNREFUSED and retried", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = new URL(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`);
  listener.close();
  const { c, sleeps, close } = client(url);
  try {
    await rejects(c.call("GetRole", { RoleName: "app" }), (e: { code?: string }) => e.code === "ECONNREFUSED");
    equal(sleeps.length, 2);
  } finally {
    close();
  }
});

Deno.test("a clock-skew refusal corrects the signing clock from the server's Date and retries at once", async () => {
  const serverNow = Date.parse("2030-01-01T00:00:00Z");
  const s = scriptedServer([
    () =>
      xml("<ErrorResponse><Error><Code>RequestTimeTooSkewed</Code></Error></ErrorResponse>", 403, {
        date: new Date(serverNow).toUTCString(),
      }),
    () => roleAnswer.clone(),
  ]);
  const { c, sleeps, close } = client(s.url);
  try {
    await c.call("GetRole", { RoleName: "app" });
    equal(s.seen.length, 2);
    deepStrictEqual(sleeps, [0]);
    equal(s.seen[1]!.headers.get("x-amz-date")?.slice(0, 8), "20300101");
  } finally {
    close();
    await s.server.shutdown();
  }
});
