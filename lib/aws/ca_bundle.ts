// The extra CA bundle trusted for AWS endpoints (and the issuer host): one reader for the CLI's --ca-bundle and
// $AWS_CA_BUNDLE, install's --aws-ca-bundle and the daemon's $AWS_CA_BUNDLE, so a file that one of them accepts the
// others accept too. A bad file fails here, with its path, rather than as a TLS error at the first AWS call.
import { invalid, IrsaError } from "../errors.ts";

const certificateBlock = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/**
 * Checks that `text` holds at least one PEM certificate whose body decodes to DER, and no private key (install puts
 * the bundle into a ConfigMap). Text between the blocks, such as the comments of system bundles, is allowed. Returns
 * `text` unchanged. Pure; throws IrsaError "invalid" that names `source`.
 */
export function validateCaBundle(text: string, source: string): string {
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
    throw invalid("CaBundleHasPrivateKey", `the CA bundle "${source}" holds a private key; give only CA certificates`);
  }
  let found = 0;
  for (const [, body] of text.matchAll(certificateBlock)) {
    let der: string;
    try {
      der = atob(body!.replace(/\s/g, ""));
    } catch {
      der = "";
    }
    // Every certificate is a DER SEQUENCE; anything else is not one, whatever its armour says.
    if (der.length === 0 || der.charCodeAt(0) !== 0x30) {
      throw invalid("CaBundleNotPem", `the CA bundle "${source}" holds a CERTIFICATE block that is not a certificate`);
    }
    found++;
  }
  if (found === 0) {
    throw invalid(
      "CaBundleNotPem",
      `the CA bundle "${source}" holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`,
    );
  }
  return text;
}

/** Reads the CA bundle at `path` and checks it with {@link validateCaBundle}; an unreadable file is "invalid" too. */
export async function readCaBundle(
  path: string,
  options: { readTextFile?: (path: string) => Promise<string> } = {},
): Promise<string> {
  let text: string;
  try {
    text = await (options.readTextFile ?? Deno.readTextFile)(path);
  } catch (e) {
    const message = `cannot read the CA bundle "${path}": ${(e as Error).message}`;
    throw new IrsaError("invalid", "CaBundleUnreadable", message, { cause: e });
  }
  return validateCaBundle(text, path);
}
