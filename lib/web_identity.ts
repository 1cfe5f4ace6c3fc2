// Verifies a web identity token the way STS does (REFERENCE §1 step 6): discovery document at `iss`, then
// `jwks_uri`, key by `kid`, signature, exact issuer, audience, time. The demo, the tests and `doctor` use it to
// prove the chain without trusting anything the cluster says about itself.
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from "jose";
import { IrsaError } from "./errors.ts";
import { discoveryKeys, stsAudience } from "./names.ts";

/** The link of the chain that failed. */
export type ChainLink = "discovery" | "issuer" | "jwks" | "kid" | "signature" | "audience" | "time";

/** A failed verification, naming the link. */
export class ChainError extends IrsaError {
  readonly link: ChainLink;
  constructor(link: ChainLink, message: string, options?: { cause?: unknown }) {
    super("invalid", `Chain${link[0]!.toUpperCase()}${link.slice(1)}`, message, options);
    this.link = link;
  }
}

/** What each verified link showed. */
export interface VerifiedChain {
  issuer: string;
  jwksUri: string;
  kid: string;
  claims: JWTPayload;
}

/** Verifies `token` by fetching the issuer's documents anonymously with `fetcher`. */
export async function verifyLikeSts(
  token: string,
  options: { fetcher: (url: string) => Promise<Response>; audience?: string },
): Promise<VerifiedChain> {
  const audience = options.audience ?? stsAudience;
  let iss: string;
  let kid: string;
  try {
    iss = String(decodeJwt(token).iss ?? "");
    kid = String(decodeProtectedHeader(token).kid ?? "");
  } catch (e) {
    throw new ChainError("signature", `the token is not a JWT: ${(e as Error).message}`, { cause: e });
  }
  const discoveryUrl = `${iss}/${discoveryKeys.configuration}`;
  const discovery = await getJson<{ issuer?: string; jwks_uri?: string }>(discoveryUrl, "discovery", options.fetcher);
  if (discovery.issuer !== iss) {
    throw new ChainError(
      "issuer",
      `the discovery document says issuer "${discovery.issuer}" but the token says "${iss}"; they must match exactly`,
    );
  }
  if (!discovery.jwks_uri) throw new ChainError("jwks", `the discovery document at ${discoveryUrl} has no jwks_uri`);
  const jwks = await getJson<JSONWebKeySet>(discovery.jwks_uri, "jwks", options.fetcher);
  if (!jwks.keys?.some((k) => k.kid === kid)) {
    throw new ChainError(
      "kid",
      `no key with kid "${kid}" in ${discovery.jwks_uri} (it has ${jwks.keys?.map((k) => k.kid).join(", ") || "none"})`,
    );
  }
  try {
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: iss, audience });
    return { issuer: iss, jwksUri: discovery.jwks_uri, kid, claims: payload };
  } catch (e) {
    const code = (e as { code?: string }).code ?? "";
    if (code === "ERR_JWT_EXPIRED" || /nbf|exp/.test((e as Error).message)) {
      throw new ChainError("time", `the token is expired or not yet valid: ${(e as Error).message}`, { cause: e });
    }
    if (code === "ERR_JWT_CLAIM_VALIDATION_FAILED") {
      throw new ChainError("audience", `the token's audience is not "${audience}": ${(e as Error).message}`, {
        cause: e,
      });
    }
    throw new ChainError(
      "signature",
      `the token's signature does not verify with key "${kid}": ${(e as Error).message}`,
      { cause: e },
    );
  }
}

async function getJson<T>(url: string, link: ChainLink, fetcher: (url: string) => Promise<Response>): Promise<T> {
  let res: Response;
  try {
    res = await fetcher(url);
  } catch (e) {
    throw new ChainError(link, `cannot fetch ${url}: ${(e as Error).message}`, { cause: e });
  }
  const text = await res.text();
  if (!res.ok) throw new ChainError(link, `GET ${url} answered HTTP ${res.status}`);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new ChainError(link, `${url} is not JSON`, { cause: e });
  }
}
