// An AWS session for test assertions: the same client configuration as the product, pointed at the sandbox.
import { type AwsClients, awsConfigFromEnv, createAwsClients } from "../../lib/aws/clients.ts";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import type { Sandbox } from "./sandbox.ts";

/** AWS clients against the sandbox's moto (in the sandbox's region unless `region`). Call destroy() when done. */
export async function sandboxAws(sandbox: Sandbox, options: { region?: string } = {}): Promise<AwsClients> {
  const env = new Map(Object.entries(sandbox.env));
  if (options.region) env.set("AWS_REGION", options.region);
  const config = awsConfigFromEnv({ get: (k) => env.get(k) });
  config.caBundlePem = sandbox.caPem;
  return await createAwsClients(config);
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
