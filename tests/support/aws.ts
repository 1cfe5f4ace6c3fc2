// An AWS session for test assertions: the same client configuration as the product, pointed at the sandbox. IAM,
// STS, S3 and S3 Control are the SDK's clients, not the product's own, so assertions do not share the code under
// test.
import { type AwsClients, type AwsConfig, awsConfigFromEnv, createAwsClients } from "../../lib/aws/clients.ts";
import { IAMClient } from "@aws-sdk/client-iam";
import { STSClient } from "@aws-sdk/client-sts";
import { S3Client } from "@aws-sdk/client-s3";
import { S3ControlClient } from "@aws-sdk/client-s3-control";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import type { Sandbox } from "./sandbox.ts";

/** The product's clients with the SDK's IAM, STS, S3 and S3 Control in place of ours; `product` is the product's set. */
export type TestAws = Omit<AwsClients, "iam" | "sts" | "s3" | "s3For" | "s3control"> & {
  iam: IAMClient;
  sts: STSClient;
  s3: S3Client;
  s3For(region: string): Promise<S3Client>;
  s3control: S3ControlClient;
  product: AwsClients;
};

/** AWS clients against the sandbox's moto (in the sandbox's region unless `region`). Call destroy() when done. */
export async function sandboxAws(sandbox: Sandbox, options: { region?: string } = {}): Promise<TestAws> {
  const env = new Map(Object.entries(sandbox.env));
  if (options.region) env.set("AWS_REGION", options.region);
  const config = awsConfigFromEnv({ get: (k) => env.get(k) });
  config.caBundlePem = sandbox.caPem;
  return await testAws(config);
}

/** The product's clients for `config`, with SDK clients for IAM, STS, S3 and S3 Control beside them. */
export async function testAws(config: AwsConfig): Promise<TestAws> {
  const product = await createAwsClients(config);
  const http = Deno.createHttpClient({ caCerts: config.caBundlePem ? [config.caBundlePem] : [] });
  const requestHandler = new FetchHttpHandler({
    customFetch: (request: RequestInfo | URL) => fetch(request, { client: http }),
  });
  const sdk = (id: "iam" | "sts" | "s3" | "s3control", region = product.region) => {
    const endpoint = config.endpoints?.[id] ?? config.endpoints?.default;
    return {
      region,
      requestHandler,
      ...(endpoint ? { endpoint } : {}),
      ...(config.credentials ? { credentials: config.credentials } : {}),
    };
  };
  const iam = new IAMClient(sdk("iam"));
  const sts = new STSClient(sdk("sts"));
  const s3Clients = new Map<string, S3Client>();
  const s3For = (region: string) => {
    let c = s3Clients.get(region);
    if (!c) {
      s3Clients.set(region, c = new S3Client({ ...sdk("s3", region), forcePathStyle: config.s3PathStyle ?? false }));
    }
    return c;
  };
  // S3 Control's endpoint rules put the account ID in front of a custom endpoint's host; use it as given.
  const controlUrl = config.endpoints?.s3control ?? config.endpoints?.default;
  const s3control = new S3ControlClient({
    ...sdk("s3control"),
    ...(controlUrl ? { endpointProvider: () => ({ url: new URL(controlUrl) }) } : {}),
  });
  return {
    ...product,
    iam,
    sts,
    s3: s3For(product.region),
    s3For: (region) => Promise.resolve(s3For(region)),
    s3control,
    product,
    destroy() {
      for (const c of [iam, sts, s3control, ...s3Clients.values()]) c.destroy();
      http.close();
      product.destroy();
    },
  };
}

/** A fetch that trusts the harness CA and sends no credentials, as STS fetches discovery documents. */
export function anonymousFetcher(sandbox: Sandbox): { fetcher: (url: string) => Promise<Response>; close(): void } {
  const client = Deno.createHttpClient({ caCerts: [sandbox.caPem] });
  return { fetcher: (url) => fetch(url, { client }), close: () => client.close() };
}

/** An SDK request handler, for clients a test builds itself, on Deno's HTTP client trusting the harness CA. */
export function sandboxHttpHandler(caPem: string): FetchHttpHandler {
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  return new FetchHttpHandler({ customFetch: (request: RequestInfo | URL) => fetch(request, { client }) });
}
