// An AWS session for test assertions: the same client configuration as the product, pointed at the sandbox. IAM
// and STS are the SDK's clients, not the product's query client, so assertions do not share the code under test.
import { type AwsClients, type AwsConfig, awsConfigFromEnv, createAwsClients } from "../../lib/aws/clients.ts";
import { IAMClient } from "@aws-sdk/client-iam";
import { STSClient } from "@aws-sdk/client-sts";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import type { Sandbox } from "./sandbox.ts";

/** The product's clients with the SDK's IAM and STS in place of ours; `product` is the product's own set. */
export type TestAws = Omit<AwsClients, "iam" | "sts"> & { iam: IAMClient; sts: STSClient; product: AwsClients };

/** AWS clients against the sandbox's moto (in the sandbox's region unless `region`). Call destroy() when done. */
export async function sandboxAws(sandbox: Sandbox, options: { region?: string } = {}): Promise<TestAws> {
  const env = new Map(Object.entries(sandbox.env));
  if (options.region) env.set("AWS_REGION", options.region);
  const config = awsConfigFromEnv({ get: (k) => env.get(k) });
  config.caBundlePem = sandbox.caPem;
  return await testAws(config);
}

/** The product's clients for `config`, with SDK clients for IAM and STS beside them. */
export async function testAws(config: AwsConfig): Promise<TestAws> {
  const product = await createAwsClients(config);
  const http = Deno.createHttpClient({ caCerts: config.caBundlePem ? [config.caBundlePem] : [] });
  const requestHandler = new FetchHttpHandler({
    customFetch: (request: RequestInfo | URL) => fetch(request, { client: http }),
  });
  const sdk = (id: "iam" | "sts") => {
    const endpoint = config.endpoints?.[id] ?? config.endpoints?.default;
    return {
      region: product.region,
      requestHandler,
      ...(endpoint ? { endpoint } : {}),
      ...(config.credentials ? { credentials: config.credentials } : {}),
    };
  };
  const iam = new IAMClient(sdk("iam"));
  const sts = new STSClient(sdk("sts"));
  return {
    ...product,
    iam,
    sts,
    product,
    destroy() {
      iam.destroy();
      sts.destroy();
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
