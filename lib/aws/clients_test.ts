import { deepStrictEqual, equal } from "node:assert/strict";
import { awsConfigFromEnv, bypassesProxy, pathStyleS3Endpoint, queryEndpoint } from "./clients.ts";

const env = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });

Deno.test("awsConfigFromEnv() reads endpoints, path style, credentials and the proxy", async (t) => {
  await t.step("everything set", () => {
    const config = awsConfigFromEnv(env({
      AWS_ENDPOINT_URL: "https://minio.local:9000",
      AWS_ENDPOINT_URL_IAM: "https://iam.local",
      AWS_REGION: "eu-west-1",
      AWS_S3_FORCE_PATH_STYLE: "true",
      AWS_ACCESS_KEY_ID: "AKIA",
      AWS_SECRET_ACCESS_KEY: "secret",
      HTTPS_PROXY: "http://proxy:3128",
      NO_PROXY: "localhost, .internal ,10.0.0.1",
    }));
    deepStrictEqual(config.endpoints, { default: "https://minio.local:9000", iam: "https://iam.local" });
    equal(config.region, "eu-west-1");
    equal(pathStyleS3Endpoint(config), "https://minio.local:9000");
    deepStrictEqual(config.credentials, { accessKeyId: "AKIA", secretAccessKey: "secret" });
    deepStrictEqual(config.proxy, { url: "http://proxy:3128", noProxy: ["localhost", ".internal", "10.0.0.1"] });
  });
  await t.step("nothing set", () => deepStrictEqual(awsConfigFromEnv(env({})), {}));
  await t.step("path style needs a custom endpoint", () => {
    equal(pathStyleS3Endpoint(awsConfigFromEnv(env({ AWS_S3_FORCE_PATH_STYLE: "1" }))), undefined);
  });
});

Deno.test("bypassesProxy() matches NO_PROXY hosts and domain suffixes", async (t) => {
  const cases: [string, string[], boolean][] = [
    ["iam.amazonaws.com", [], false],
    ["iam.amazonaws.com", ["amazonaws.com"], true],
    ["iam.amazonaws.com", [".amazonaws.com"], true],
    ["amazonaws.com.evil", ["amazonaws.com"], false],
    ["127.0.0.1:8443", ["127.0.0.1"], true],
    ["anything", ["*"], true],
    ["s3.eu-west-1.amazonaws.com", ["*.amazonaws.com"], true],
  ];
  for (const [host, noProxy, want] of cases) {
    await t.step(`${host} with [${noProxy}]`, () => equal(bypassesProxy(host, noProxy), want));
  }
});

Deno.test("queryEndpoint: IAM is global per partition, STS regional, an override is signed for the session's region", async (t) => {
  const cases: [string, "iam" | "sts", string, string | undefined, string, string][] = [
    ["IAM in aws", "iam", "eu-west-1", undefined, "https://iam.amazonaws.com/", "us-east-1"],
    ["IAM in China", "iam", "cn-northwest-1", undefined, "https://iam.cn-north-1.amazonaws.com.cn/", "cn-north-1"],
    ["IAM in GovCloud", "iam", "us-gov-east-1", undefined, "https://iam.us-gov.amazonaws.com/", "us-gov-west-1"],
    ["STS regional", "sts", "eu-west-1", undefined, "https://sts.eu-west-1.amazonaws.com/", "eu-west-1"],
    ["STS in China", "sts", "cn-north-1", undefined, "https://sts.cn-north-1.amazonaws.com.cn/", "cn-north-1"],
    ["an emulator", "iam", "eu-west-1", "https://127.0.0.1:4566", "https://127.0.0.1:4566/", "eu-west-1"],
  ];
  for (const [name, service, region, override, url, signingRegion] of cases) {
    await t.step(name, () => {
      const got = queryEndpoint(service, region, override);
      equal(got.url.toString(), url);
      equal(got.signingRegion, signingRegion);
    });
  }
});

Deno.test("without static keys, the default chain's and a profile's credentials sign IAM and STS calls", async () => {
  // In a child process, so the environment it needs does not leak into other tests.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/credentials`,
      "[default]\naws_access_key_id = AKIADEFAULTCHAIN\naws_secret_access_key = s\n[team]\naws_access_key_id = AKIATEAMPROFILE\naws_secret_access_key = t\n",
    );
    await Deno.writeTextFile(`${dir}/config`, "");
    const script = `${dir}/chain.ts`;
    await Deno.writeTextFile(
      script,
      `import { createAwsClients } from ${JSON.stringify(new URL("./clients.ts", import.meta.url).href)};
const seen = [];
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  seen.push((req.headers.get("authorization") ?? "").split("/")[0]);
  return new Response("<R><GetCallerIdentityResult><Account>1</Account></GetCallerIdentityResult></R>");
});
const endpoints = { default: "http://127.0.0.1:" + server.addr.port };
for (const profile of [undefined, "team"]) {
  const c = await createAwsClients({ region: "eu-west-1", endpoints, ...(profile ? { profile } : {}) });
  await c.sts.call("GetCallerIdentity");
  await c.iam.call("GetCallerIdentity");
  c.destroy();
}
await server.shutdown();
console.log(JSON.stringify(seen));`,
    );
    const env = { ...Deno.env.toObject() };
    for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]) delete env[k];
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", "--config", new URL("../../deno.json", import.meta.url).pathname, script],
      env: {
        ...env,
        AWS_SHARED_CREDENTIALS_FILE: `${dir}/credentials`,
        AWS_CONFIG_FILE: `${dir}/config`,
        AWS_EC2_METADATA_DISABLED: "true",
      },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    equal(out.code, 0, new TextDecoder().decode(out.stderr));
    deepStrictEqual(JSON.parse(new TextDecoder().decode(out.stdout)), [
      "AWS4-HMAC-SHA256 Credential=AKIADEFAULTCHAIN",
      "AWS4-HMAC-SHA256 Credential=AKIADEFAULTCHAIN",
      "AWS4-HMAC-SHA256 Credential=AKIATEAMPROFILE",
      "AWS4-HMAC-SHA256 Credential=AKIATEAMPROFILE",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
