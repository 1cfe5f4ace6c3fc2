// The two documents the issuer serves: the OpenID discovery document and the JWKS. They are built here as plain
// data with a fixed key order, so the bytes in S3 only change when the content does.

import { discoveryKeys } from "./names.ts";
import { invalid } from "./errors.ts";
import { validateIssuerUrl } from "./issuer.ts";
import type { Jwk, Jwks, SigningAlgorithm } from "./keys.ts";

/** The OpenID discovery document served at `<issuer>/.well-known/openid-configuration`. */
export type DiscoveryDocument = {
  issuer: string;
  jwks_uri: string;
  response_types_supported: ["id_token"];
  subject_types_supported: ["public"];
  id_token_signing_alg_values_supported: SigningAlgorithm[];
  claims_supported: ["sub", "iss"];
};

/** Options of {@linkcode discoveryDocument}. */
export type DiscoveryOptions = {
  /** Algorithms of the published keys (see {@linkcode algorithmsOf}); RS256 is always listed. */
  algorithms?: readonly SigningAlgorithm[];
};

/**
 * Builds the discovery document for `issuer`. The issuer must be exactly kube-apiserver's first
 * --service-account-issuer; a trailing slash here (the seed's bug) makes STS reject every token.
 */
export function discoveryDocument(issuer: string, options: DiscoveryOptions = {}): DiscoveryDocument {
  const iss = validateIssuerUrl(issuer);
  // RS256 stays listed even for EC-only key sets: it is the algorithm OIDC requires every provider to announce.
  const algorithms: SigningAlgorithm[] = ["RS256"];
  if (options.algorithms?.includes("ES256")) algorithms.push("ES256");
  return {
    issuer: iss,
    jwks_uri: `${iss}/${discoveryKeys.jwks}`,
    response_types_supported: ["id_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: algorithms,
    claims_supported: ["sub", "iss"],
  };
}

/** The distinct signing algorithms of a key set, RS256 before ES256. */
export function algorithmsOf(jwks: Jwks): SigningAlgorithm[] {
  const present = new Set(jwks.keys.map((k) => k.alg));
  return (["RS256", "ES256"] as const).filter((a) => present.has(a));
}

/** Options of {@linkcode mergeJwks}. */
export type MergeOptions = {
  /** Key IDs of published keys to drop; a retired key must no longer sign tokens that are still in use. */
  retire?: ReadonlySet<string>;
};

/**
 * The key set to publish: every current key, then every previously published key that is not retired.
 * Old keys stay until retired explicitly, because tokens signed with them remain valid until they expire.
 * Duplicates by kid are dropped, keeping the first (so a current key wins over its published copy).
 */
export function mergeJwks(published: Jwks, current: Jwks, options: MergeOptions = {}): Jwks {
  const seen = new Set<string>();
  const keys: Jwk[] = [];
  const add = (k: Jwk) => {
    if (seen.has(k.kid)) return;
    seen.add(k.kid);
    keys.push(k);
  };
  current.keys.forEach(add);
  for (const k of published.keys) if (!options.retire?.has(k.kid)) add(k);
  return { keys };
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** True when both sets hold the same keys (by kid and content), in any order and with any member order. */
export function jwksEqual(a: Jwks, b: Jwks): boolean {
  if (a.keys.length !== b.keys.length) return false;
  const byKid = new Map(a.keys.map((k) => [k.kid, canonical(k)]));
  if (byKid.size !== a.keys.length) return false;
  const kids = new Set<string>();
  for (const k of b.keys) {
    if (byKid.get(k.kid) !== canonical(k)) return false;
    kids.add(k.kid);
  }
  return kids.size === b.keys.length;
}

/** Serialises a document as 2-space-indented JSON with a trailing newline, so equal documents have equal bytes. */
export function serializeDocument(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function str(o: Record<string, unknown>, field: string, at: string): string {
  const v = o[field];
  if (typeof v !== "string" || v === "") throw invalid("InvalidJwks", `JWKS key ${at} has no "${field}"`);
  return v;
}

/**
 * Parses a published `keys.json` into normalised entries (kube-apiserver's member order). A key this tool
 * cannot represent is an error rather than skipped, since merging would otherwise silently unpublish it.
 */
export function parseJwks(text: string): Jwks {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalid("InvalidJwks", `JWKS is not valid JSON: ${(e as Error).message}`);
  }
  const list = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw invalid("InvalidJwks", `JWKS has no "keys" array`);
  const keys = list.map((raw: unknown, i): Jwk => {
    const at = `#${i}`;
    if (raw === null || typeof raw !== "object") throw invalid("InvalidJwks", `JWKS key ${at} is not an object`);
    const o = raw as Record<string, unknown>;
    if (o.use !== undefined && o.use !== "sig") throw invalid("InvalidJwks", `JWKS key ${at} is not a signing key`);
    const kid = str(o, "kid", at);
    if (o.kty === "RSA" && (o.alg === undefined || o.alg === "RS256")) {
      return { use: "sig", kty: "RSA", kid, alg: "RS256", n: str(o, "n", at), e: str(o, "e", at) };
    }
    if (o.kty === "EC" && o.crv === "P-256" && (o.alg === undefined || o.alg === "ES256")) {
      return { use: "sig", kty: "EC", kid, crv: "P-256", alg: "ES256", x: str(o, "x", at), y: str(o, "y", at) };
    }
    throw invalid("InvalidJwks", `JWKS key "${kid}" has an unsupported type; only RS256 and ES256 keys are supported`);
  });
  return { keys };
}
