// Builds AWS SDK clients from one configuration: region, profile, custom endpoints (AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>, for S3-compatible stores and emulators), an extra CA bundle and path-style S3.
// Every client counts its calls into a CallLog. The SDK is imported lazily so commands that do not talk to AWS
// never load it.
import type { IAMClient } from "@aws-sdk/client-iam";
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3ControlClient } from "@aws-sdk/client-s3-control";
import type { STSClient } from "@aws-sdk/client-sts";
import type { KMSClient } from "@aws-sdk/client-kms";
import type { CloudFrontClient } from "@aws-sdk/client-cloudfront";
import type { Remedy } from "../errors.ts";
import { awsEndpointEnv } from "../names.ts";
import { CallLog, isWriteOperation } from "./call_log.ts";
import { asNetworkError } from "./network_error.ts";

/** The services kubectl-irsa calls, as the SDK's endpoint ids. */
export type AwsServiceId = "iam" | "s3" | "sts" | "s3control" | "kms" | "cloudfront";

/** How to reach AWS. Empty fields fall back to the SDK's default chain. */
export interface AwsConfig {
  region?: string;
  profile?: string;
  /** PEM text trusted in addition to the system roots. */
  caBundlePem?: string;
  s3PathStyle?: boolean;
  /** Endpoint overrides by service id; "default" applies to all. */
  endpoints?: Partial<Record<"default" | AwsServiceId, string>>;
  /** Static credentials, e.g. from the daemon's aws-secret. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** A role to assume with the base credentials (the seed's aws-role-arn). */
  assumeRoleArn?: string;
  /** Per-request timeout (default 30 s); the SDK retries timed-out requests like throttling. */
  requestTimeoutMs?: number;
  /** HTTPS proxy (HTTPS_PROXY) and the hosts that bypass it (NO_PROXY). */
  proxy?: { url: string; noProxy: string[] };
}

/**
 * Reads region, profile, endpoints, path-style and static credentials from environment variables, as the SDK's
 * default chain would; taking the environment as a parameter lets the daemon and tests pass their own.
 */
export function awsConfigFromEnv(env: { get(name: string): string | undefined }): AwsConfig {
  const config: AwsConfig = {};
  const endpoints: NonNullable<AwsConfig["endpoints"]> = {};
  const base = env.get(awsEndpointEnv.endpointUrl);
  if (base) endpoints.default = base;
  const suffixes = [
    ["iam", "IAM"],
    ["s3", "S3"],
    ["sts", "STS"],
    ["s3control", "S3_CONTROL"],
    ["kms", "KMS"],
    ["cloudfront", "CLOUDFRONT"],
  ] as const;
  for (const [id, suffix] of suffixes) {
    const value = env.get(`${awsEndpointEnv.endpointUrl}_${suffix}`);
    if (value) endpoints[id] = value;
  }
  if (Object.keys(endpoints).length > 0) config.endpoints = endpoints;
  const region = env.get("AWS_REGION") ?? env.get("AWS_DEFAULT_REGION");
  if (region) config.region = region;
  const profile = env.get("AWS_PROFILE");
  if (profile) config.profile = profile;
  if (/^(1|true|yes)$/i.test(env.get(awsEndpointEnv.s3ForcePathStyle) ?? "")) config.s3PathStyle = true;
  const proxyUrl = env.get("HTTPS_PROXY") ?? env.get("https_proxy");
  if (proxyUrl) {
    const noProxy = (env.get("NO_PROXY") ?? env.get("no_proxy") ?? "").split(",").map((h) => h.trim()).filter(Boolean);
    config.proxy = { url: proxyUrl, noProxy };
  }
  const accessKeyId = env.get("AWS_ACCESS_KEY_ID");
  const secretAccessKey = env.get("AWS_SECRET_ACCESS_KEY");
  if (accessKeyId && secretAccessKey) {
    const sessionToken = env.get("AWS_SESSION_TOKEN");
    config.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }
  return config;
}

/** Whether `host` bypasses the proxy: NO_PROXY entries match exactly or as a domain suffix; "*" matches all. Pure. */
export function bypassesProxy(host: string, noProxy: string[]): boolean {
  const h = host.toLowerCase().replace(/:\d+$/, "");
  return noProxy.some((entry) => {
    const e = entry.toLowerCase().replace(/:\d+$/, "").replace(/^\*?\./, "");
    return e === "*" || h === e || h.endsWith(`.${e}`);
  });
}

/** The custom S3 endpoint when S3 is addressed path-style (S3-compatible stores, emulators), else undefined. */
export function pathStyleS3Endpoint(config: AwsConfig): string | undefined {
  const endpoint = config.endpoints?.s3 ?? config.endpoints?.default;
  return config.s3PathStyle && endpoint ? endpoint : undefined;
}

/** The SDK clients of one session, sharing configuration, HTTP agent and call log. */
export interface AwsClients {
  region: string;
  /** The configuration the clients were built from. */
  config: AwsConfig;
  iam: IAMClient;
  sts: STSClient;
  /** An S3 client for `region`; buckets in other regions need `s3For`. */
  s3: S3Client;
  s3For(region: string): Promise<S3Client>;
  s3control: S3ControlClient;
  /** Loaded on first use: only the signer and CloudFront hosting need them. */
  kms(): Promise<KMSClient>;
  /** CloudFront's API lives in us-east-1 whatever the session's region. */
  cloudfront(): Promise<CloudFrontClient>;
  calls: CallLog;
  destroy(): void;
}

/** Thrown when no region can be found; the CLI turns it into a usage error. */
export class MissingRegionError extends Error {
  override readonly name = "MissingRegionError";
  /** Rendered by cli/ (a flag) and daemon/ (its environment), like an IrsaError's. */
  readonly remedies: readonly Remedy[] = [{ kind: "awsRegion" }];
}

/** Creates the clients. Throws MissingRegionError when no region is configured anywhere. */
export async function createAwsClients(config: AwsConfig, calls = new CallLog()): Promise<AwsClients> {
  const [{ IAMClient }, { STSClient }, { S3Client }, { S3ControlClient }, { FetchHttpHandler }] = await Promise.all([
    import("@aws-sdk/client-iam"),
    import("@aws-sdk/client-sts"),
    import("@aws-sdk/client-s3"),
    import("@aws-sdk/client-s3-control"),
    import("@smithy/fetch-http-handler"),
  ]);
  // Deno's own HTTP client (hyper and rustls), not node:https: that one opened a TLS connection per request here
  // and turned every peer certificate into a Node object, which cost more CPU than the rest of a reconcile. The
  // pool keeps connections across requests; the extra CA is trusted besides the built-in roots.
  const caCerts = config.caBundlePem ? [config.caBundlePem] : [];
  const httpClients: Deno.HttpClient[] = [];
  const handler = (options: Deno.CreateHttpClientOptions) => {
    const client = Deno.createHttpClient({ caCerts, ...options });
    httpClients.push(client);
    return new FetchHttpHandler({
      // Covers connecting as well: Deno's client has no separate connect timeout.
      requestTimeout: config.requestTimeoutMs ?? 30_000,
      customFetch: async (request: RequestInfo | URL) => {
        try {
          return await fetch(request, { client });
        } catch (e) {
          throw asNetworkError(e);
        }
      },
    });
  };
  const direct = handler({});
  const proxied = config.proxy ? handler({ proxy: proxyOption(config.proxy.url) }) : undefined;
  const region = config.region ?? await regionFromProfile(config.profile);
  if (!region) {
    throw new MissingRegionError("no AWS region is configured");
  }
  const endpoint = (id: keyof NonNullable<AwsConfig["endpoints"]>) =>
    config.endpoints?.[id] ?? config.endpoints?.default;
  let credentials = config.credentials
    ? { ...config.credentials } as const
    : config.profile
    ? (await import("@aws-sdk/credential-providers")).fromIni({ profile: config.profile })
    : undefined;
  const common = (id: AwsServiceId, r = region) => {
    const url = endpoint(id);
    // The default endpoints are all under amazonaws.com (amazonaws.com.cn in China).
    const host = url ? new URL(url).host : r.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
    const requestHandler = proxied && !bypassesProxy(host, config.proxy!.noProxy) ? proxied : direct;
    return {
      region: r,
      requestHandler,
      maxAttempts: 5,
      ...(url ? { endpoint: url } : {}),
      ...(credentials ? { credentials } : {}),
    };
  };
  if (config.assumeRoleArn) {
    const { fromTemporaryCredentials } = await import("@aws-sdk/credential-providers");
    credentials = fromTemporaryCredentials({
      params: { RoleArn: config.assumeRoleArn, RoleSessionName: "kubectl-irsa" },
      clientConfig: common("sts"),
    }) as typeof credentials;
  }
  const counted = <C extends { middlewareStack: unknown }>(client: C, service: string): C => {
    (client.middlewareStack as CountableStack).add(
      (next: Next, context: { commandName?: string }) => async (args: unknown) => {
        const operation = String(context.commandName ?? "Unknown").replace(/Command$/, "");
        try {
          const result = await next(args);
          calls.record({ service, operation, write: isWriteOperation(operation), outcome: "ok" });
          return result;
        } catch (e) {
          calls.record({ service, operation, write: isWriteOperation(operation), outcome: "error" });
          throw e;
        }
      },
      { step: "initialize", name: "kubectlIrsaCallLog" },
    );
    return client;
  };
  const s3Clients = new Map<string, S3Client>();
  const s3For = (r: string) => {
    const known = s3Clients.get(r);
    if (known) return known;
    const client = counted(new S3Client({ ...common("s3", r), forcePathStyle: config.s3PathStyle ?? false }), "s3");
    s3Clients.set(r, client);
    return client;
  };
  const iam = counted(new IAMClient(common("iam")), "iam");
  const sts = counted(new STSClient(common("sts")), "sts");
  // S3 Control's endpoint rules put the account ID in front of the host, which breaks a custom endpoint such as
  // an IP address; with an override, use it as given.
  const controlUrl = endpoint("s3control");
  const s3control = counted(
    new S3ControlClient({
      ...common("s3control"),
      ...(controlUrl ? { endpointProvider: () => ({ url: new URL(controlUrl) }) } : {}),
    }),
    "s3control",
  );
  const lazy: { destroy(): void }[] = [];
  const once = <C extends { destroy(): void }>(make: () => Promise<C>): () => Promise<C> => {
    let made: Promise<C> | undefined;
    return () =>
      made ??= make().then((c) => {
        lazy.push(c);
        return c;
      });
  };
  const kms = once(async () => {
    const { KMSClient } = await import("@aws-sdk/client-kms");
    return counted(new KMSClient(common("kms")), "kms");
  });
  const cloudfront = once(async () => {
    const { CloudFrontClient } = await import("@aws-sdk/client-cloudfront");
    return counted(new CloudFrontClient(common("cloudfront", "us-east-1")), "cloudfront");
  });
  return {
    region,
    config,
    iam,
    sts,
    s3: s3For(region),
    s3For: (r) => Promise.resolve(s3For(r)),
    s3control,
    kms,
    cloudfront,
    calls,
    destroy() {
      for (const c of [iam, sts, s3control, ...s3Clients.values(), ...lazy]) c.destroy();
      for (const c of httpClients) c.close();
    },
  };
}

/** Deno's proxy option for a proxy URL; credentials in the URL become basic auth. */
function proxyOption(url: string): Deno.Proxy {
  const u = new URL(url);
  if (!u.username) return { url };
  const basicAuth = { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
  u.username = "";
  u.password = "";
  return { url: u.toString(), basicAuth };
}

type Next = (args: unknown) => Promise<unknown>;
// The SDK's middleware types differ per client package; this is the part every client shares.
type CountableStack = {
  add(middleware: (next: Next, context: { commandName?: string }) => Next, options: object): void;
};

async function regionFromProfile(profile: string | undefined): Promise<string | undefined> {
  try {
    const { loadSharedConfigFiles } = await import("@smithy/shared-ini-file-loader");
    const files = await loadSharedConfigFiles();
    return files.configFile?.[profile ?? "default"]?.region;
  } catch {
    return undefined;
  }
}
