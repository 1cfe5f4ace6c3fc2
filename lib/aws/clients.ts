// Builds the AWS clients from one configuration: region, profile, custom endpoints (AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>, for S3-compatible stores and emulators), an extra CA bundle and path-style S3.
// Every client counts its calls into a CallLog. IAM, STS, S3 and S3 Control are our own clients; the SDK (KMS,
// CloudFront, assumed roles, the default credential chain) is imported lazily, when a command needs it.
import type { KMSClient } from "@aws-sdk/client-kms";
import type { CloudFrontClient } from "@aws-sdk/client-cloudfront";
import type { FetchHttpHandler } from "@smithy/fetch-http-handler";
import type { Remedy } from "../errors.ts";
import { awsEndpointEnv } from "../names.ts";
import { CallLog, isWriteOperation } from "./call_log.ts";
import { type AwsCredentialIdentity, cachedCredentials } from "./credentials.ts";
import { asNetworkError } from "./network_error.ts";
import { createQueryClient, type QueryClient } from "./query_client.ts";
import { createS3Client, createS3ControlClient, type S3Client, type S3ControlClient } from "./s3_client.ts";

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

/** The clients of one session, sharing configuration, HTTP connections, credentials and call log. */
export interface AwsClients {
  region: string;
  /** The configuration the clients were built from. */
  config: AwsConfig;
  /** IAM and STS speak the query protocol, S3 and S3 Control REST, through our own clients, not the SDK. */
  iam: QueryClient;
  sts: QueryClient;
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

/**
 * Where IAM and STS are and the region requests to them are signed for: IAM is global, signed for its
 * partition's home region; STS is regional. A custom endpoint is signed for the session's region, as the SDK does.
 * Pure.
 */
export function queryEndpoint(
  service: "iam" | "sts",
  region: string,
  override: string | undefined,
): { url: URL; signingRegion: string } {
  if (override) return { url: new URL(override), signingRegion: region };
  const china = region.startsWith("cn-");
  const gov = region.startsWith("us-gov-");
  const suffix = china ? "amazonaws.com.cn" : "amazonaws.com";
  if (service === "sts") return { url: new URL(`https://sts.${region}.${suffix}`), signingRegion: region };
  if (china) return { url: new URL(`https://iam.cn-north-1.${suffix}`), signingRegion: "cn-north-1" };
  if (gov) return { url: new URL("https://iam.us-gov.amazonaws.com"), signingRegion: "us-gov-west-1" };
  return { url: new URL("https://iam.amazonaws.com"), signingRegion: "us-east-1" };
}

/** Attempts per call, for the SDK clients and ours alike. */
const maxAttempts = 5;

/** Creates the clients. Throws MissingRegionError when no region is configured anywhere. */
export async function createAwsClients(config: AwsConfig, calls = new CallLog()): Promise<AwsClients> {
  const region = config.region ?? await regionFromProfile(config.profile);
  if (!region) {
    throw new MissingRegionError("no AWS region is configured");
  }
  const timeoutMs = config.requestTimeoutMs ?? 30_000;
  // Deno's own HTTP client (hyper and rustls), not node:https: that one opened a TLS connection per request here
  // and turned every peer certificate into a Node object, which cost more CPU than the rest of a reconcile. The
  // pool keeps connections across requests; the extra CA is trusted besides the built-in roots.
  const caCerts = config.caBundlePem ? [config.caBundlePem] : [];
  const direct = Deno.createHttpClient({ caCerts });
  const proxied = config.proxy ? Deno.createHttpClient({ caCerts, proxy: proxyOption(config.proxy.url) }) : undefined;
  const endpoint = (id: keyof NonNullable<AwsConfig["endpoints"]>) =>
    config.endpoints?.[id] ?? config.endpoints?.default;
  const httpClientFor = (id: AwsServiceId, r: string) => {
    const url = endpoint(id);
    // The default endpoints are all under amazonaws.com (amazonaws.com.cn in China).
    const host = url ? new URL(url).host : r.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
    return proxied && !bypassesProxy(host, config.proxy!.noProxy) ? proxied : direct;
  };
  // The SDK's request handler, for the clients still on the SDK (KMS, CloudFront, assumed-role STS); loaded on first
  // use so the daemon's usual paths never import it.
  const handlers = new Map<Deno.HttpClient, Promise<FetchHttpHandler>>();
  const sdkHandler = (client: Deno.HttpClient) => {
    const known = handlers.get(client);
    if (known) return known;
    const handler = import("@smithy/fetch-http-handler").then(({ FetchHttpHandler }) =>
      new FetchHttpHandler({
        // Covers connecting as well: Deno's client has no separate connect timeout.
        requestTimeout: timeoutMs,
        customFetch: async (request: RequestInfo | URL) => {
          try {
            return await fetch(request, { client });
          } catch (e) {
            throw asNetworkError(e);
          }
        },
      })
    );
    handlers.set(client, handler);
    return handler;
  };
  const common = async (id: AwsServiceId, r = region) => {
    const url = endpoint(id);
    return {
      region: r,
      requestHandler: await sdkHandler(httpClientFor(id, r)),
      maxAttempts,
      ...(url ? { endpoint: url } : {}),
      credentials,
    };
  };
  const credentials: AwsCredentialIdentity | (() => Promise<AwsCredentialIdentity>) = config.assumeRoleArn
    ? cachedCredentials(async (): Promise<AwsCredentialIdentity> => {
      const { fromTemporaryCredentials } = await import("@aws-sdk/credential-providers");
      return await fromTemporaryCredentials({
        params: { RoleArn: config.assumeRoleArn!, RoleSessionName: "kubectl-irsa" },
        // The base credentials: the static ones, the profile's, or the default chain's.
        clientConfig: { ...(await common("sts")), credentials: base },
      })();
    })
    : config.credentials
    ? { ...config.credentials }
    : base;
  function base(): Promise<AwsCredentialIdentity> {
    if (config.credentials) return Promise.resolve(config.credentials);
    return (baseProvider ??= config.profile
      ? import("@aws-sdk/credential-providers").then((m) => cachedCredentials(m.fromIni({ profile: config.profile! })))
      : import("@aws-sdk/credential-provider-node").then((m) => cachedCredentials(m.defaultProvider())))
      .then((p) => p());
  }
  let baseProvider: Promise<() => Promise<AwsCredentialIdentity>> | undefined;
  const keys = typeof credentials === "function" ? credentials : () => Promise.resolve(credentials);
  // What each of our own clients shares: credentials, the HTTP client for its host, timeouts, the call log.
  const ours = (id: AwsServiceId, r: string) => {
    const client = httpClientFor(id, r);
    return {
      credentials: keys,
      fetch: (u: URL, init: RequestInit) => fetch(u, { ...init, client }),
      timeoutMs,
      maxAttempts,
      calls,
    };
  };
  const query = (id: "iam" | "sts", version: string) => {
    const { url, signingRegion } = queryEndpoint(id, region, endpoint(id));
    return createQueryClient({ ...ours(id, region), service: id, version, endpoint: url, signingRegion });
  };
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
    const url = endpoint("s3");
    const client = createS3Client({
      ...ours("s3", r),
      region: r,
      endpoint: { ...(url ? { url } : {}), pathStyle: config.s3PathStyle ?? false },
    });
    s3Clients.set(r, client);
    return client;
  };
  const controlUrl = endpoint("s3control");
  const s3control = createS3ControlClient({
    ...ours("s3control", region),
    region,
    ...(controlUrl ? { endpointUrl: controlUrl } : {}),
  });
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
    return counted(new KMSClient(await common("kms")), "kms");
  });
  const cloudfront = once(async () => {
    const { CloudFrontClient } = await import("@aws-sdk/client-cloudfront");
    return counted(new CloudFrontClient(await common("cloudfront", "us-east-1")), "cloudfront");
  });
  return {
    region,
    config,
    iam: query("iam", "2010-05-08"),
    sts: query("sts", "2011-06-15"),
    s3: s3For(region),
    s3For: (r) => Promise.resolve(s3For(r)),
    s3control,
    kms,
    cloudfront,
    calls,
    destroy() {
      for (const c of lazy) c.destroy();
      direct.close();
      proxied?.close();
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
