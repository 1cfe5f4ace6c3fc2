// Trust policies are built in one fixed shape and compared semantically: IAM returns documents URL-encoded, may
// reorder keys and collapses one-element arrays, so a string comparison would report drift that is not there
// and rewrite roles on every reconcile.

import { invalid } from "./errors.ts";
import { parseArn } from "./arn.ts";
import { issuerHostPath as toHostPath } from "./issuer.ts";
import { stsAudience } from "./names.ts";
import { validateDnsLabel, validateDnsSubdomain } from "./validate.ts";

/** A scalar as it may appear in a condition; IAM compares them as strings. */
export type ConditionScalar = string | number | boolean;

/** The value of one condition key: one scalar or a list (OR-ed). */
export type ConditionValue = ConditionScalar | ConditionScalar[];

/** `Condition`: operator → key → value(s). */
export type ConditionBlock = Record<string, Record<string, ConditionValue>>;

/** `Principal`: "*" or a map such as `{ Federated: arn }`. */
export type Principal = "*" | Record<string, string | string[]>;

/** One policy statement as written by users or returned by IAM and S3. */
export interface PolicyStatement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Principal?: Principal;
  NotPrincipal?: Principal;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: ConditionBlock;
}

/** An IAM or S3 policy document. */
export interface PolicyDocument {
  Version?: string;
  Id?: string;
  Statement: PolicyStatement | PolicyStatement[];
}

/** A statement in canonical form: every value a sorted, de-duplicated list, keys in a fixed order. */
export interface NormalizedStatement {
  Sid?: string;
  Effect: string;
  Principal?: Record<string, string[]>;
  NotPrincipal?: Record<string, string[]>;
  Action?: string[];
  NotAction?: string[];
  Resource?: string[];
  NotResource?: string[];
  Condition?: Record<string, Record<string, string[]>>;
}

/** A policy in canonical form, as returned by {@link normalizePolicy}. */
export interface NormalizedPolicy {
  Version?: string;
  Id?: string;
  Statement: NormalizedStatement[];
}

/** The ServiceAccount a role trusts. */
export interface TrustSubject {
  namespace: string;
  serviceAccount: string;
}

/** Inputs of {@link buildTrustPolicy}. */
export interface TrustPolicyInput {
  /** ARN of the IAM OIDC provider. */
  providerArn: string;
  /** The issuer without https:// (an https URL is accepted too). */
  issuerHostPath: string;
  /** Every ServiceAccount that may assume the role; at least one. */
  subjects: readonly TrustSubject[];
  /** The token audience; defaults to sts.amazonaws.com. */
  audience?: string;
}

/** The `sub` claim kube-apiserver puts in a ServiceAccount token. */
export function subjectOf(s: TrustSubject): string {
  return `system:serviceaccount:${s.namespace}:${s.serviceAccount}`;
}

/**
 * Builds the single-statement trust policy of REFERENCE §2. `sub` is always a sorted list so that the document is
 * the same whatever order namespaces were given in; `aud` is a plain string.
 */
export function buildTrustPolicy(input: TrustPolicyInput): PolicyDocument {
  const hostPath = toHostPath(input.issuerHostPath);
  const provider = parseArn(input.providerArn);
  if (provider.service !== "iam" || provider.resource !== `oidc-provider/${hostPath}`) {
    throw invalid(
      "InvalidTrustPolicy",
      `OIDC provider ${JSON.stringify(input.providerArn)} does not match issuer ${JSON.stringify(hostPath)}`,
    );
  }
  if (input.subjects.length === 0) {
    throw invalid("InvalidTrustPolicy", "A trust policy needs at least one ServiceAccount");
  }
  for (const s of input.subjects) {
    // StringEquals compares literally, so a wildcard would produce a role that nobody can assume.
    for (const [kind, value] of [["namespace", s.namespace], ["ServiceAccount", s.serviceAccount]] as const) {
      if (/[*?]/.test(value)) {
        throw invalid(
          "WildcardSubject",
          `Invalid ${kind} ${JSON.stringify(value)}: wildcards never match in a StringEquals trust condition`,
        );
      }
    }
    validateDnsLabel("namespace", s.namespace);
    validateDnsSubdomain("ServiceAccount name", s.serviceAccount);
  }
  const subjects = [...new Set(input.subjects.map(subjectOf))].sort();
  const audience = input.audience ?? stsAudience;
  if (audience.length === 0 || /[*?]/.test(audience)) {
    throw invalid("InvalidTrustPolicy", `Invalid audience ${JSON.stringify(audience)}: must be a literal value`);
  }
  return {
    Version: "2012-10-17",
    Statement: [{
      Effect: "Allow",
      Principal: { Federated: input.providerArn },
      Action: "sts:AssumeRoleWithWebIdentity",
      Condition: {
        StringEquals: {
          [`${hostPath}:sub`]: subjects,
          [`${hostPath}:aud`]: audience,
        },
      },
    }],
  };
}

/**
 * Parses a policy document given as JSON or as the URL-encoded JSON that IAM returns. Decoding is tried only
 * when the text is not JSON, because a literal "%" in a valid document must survive.
 */
export function parsePolicyDocument(text: string): PolicyDocument {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    try {
      parsed = JSON.parse(decodeURIComponent(text));
    } catch {
      const short = text.length > 60 ? `${text.slice(0, 57)}...` : text;
      throw invalid(
        "InvalidPolicyDocument",
        `Policy document ${JSON.stringify(short)} is neither JSON nor URL-encoded JSON`,
      );
    }
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw invalid("InvalidPolicyDocument", "Policy document is not a JSON object");
  }
  const statement = (parsed as { Statement?: unknown }).Statement;
  const statements = Array.isArray(statement) ? statement : [statement];
  if (!statements.every((s) => typeof s === "object" && s !== null && !Array.isArray(s))) {
    throw invalid("InvalidPolicyDocument", "Policy document has no Statement object or array");
  }
  return parsed as PolicyDocument;
}

function list(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const items = Array.isArray(v) ? v : [v];
  return [...new Set(items.map((x) => String(x)))].sort();
}

function principalMap(p: unknown): Record<string, string[]> | undefined {
  if (p === undefined || p === null) return undefined;
  // IAM treats Principal "*" and {"AWS": "*"} alike.
  if (typeof p !== "object") return { AWS: list(p) ?? [] };
  const out: Record<string, string[]> = {};
  for (const key of Object.keys(p).sort()) out[key] = list((p as Record<string, unknown>)[key]) ?? [];
  return out;
}

function conditionMap(c: unknown): Record<string, Record<string, string[]>> | undefined {
  if (typeof c !== "object" || c === null) return undefined;
  const out: Record<string, Record<string, string[]>> = {};
  for (const op of Object.keys(c).sort()) {
    const keys = (c as Record<string, unknown>)[op];
    if (typeof keys !== "object" || keys === null) continue;
    const inner: Record<string, string[]> = {};
    for (const key of Object.keys(keys).sort()) inner[key] = list((keys as Record<string, unknown>)[key]) ?? [];
    if (Object.keys(inner).length > 0) out[op] = inner;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function normalizeStatement(s: PolicyStatement): NormalizedStatement {
  const raw = s as unknown as Record<string, unknown>;
  // Keys are assigned in a fixed order, so JSON.stringify of two normalized documents is a valid equality test.
  const out = {} as NormalizedStatement;
  if (typeof raw.Sid === "string" && raw.Sid !== "") out.Sid = raw.Sid;
  out.Effect = String(raw.Effect);
  const assign = <K extends keyof NormalizedStatement>(k: K, v: NormalizedStatement[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  assign("Principal", principalMap(raw.Principal));
  assign("NotPrincipal", principalMap(raw.NotPrincipal));
  assign("Action", list(raw.Action));
  assign("NotAction", list(raw.NotAction));
  assign("Resource", list(raw.Resource));
  assign("NotResource", list(raw.NotResource));
  assign("Condition", conditionMap(raw.Condition));
  return out;
}

/**
 * Canonical form for semantic comparison: Statement is a list sorted by content (statement order has no meaning
 * in IAM), a single value equals a one-element list, lists are sorted and de-duplicated, map keys are sorted,
 * Principal "*" equals {"AWS":"*"}, and Version is kept as given.
 */
export function normalizePolicy(doc: PolicyDocument): NormalizedPolicy {
  const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  const normalized = statements.map(normalizeStatement);
  const keyed = normalized.map((s) => [JSON.stringify(s), s] as const).sort((a, b) => a[0] < b[0] ? -1 : 1);
  const result = {} as NormalizedPolicy;
  if (doc.Version !== undefined) result.Version = doc.Version;
  if (doc.Id !== undefined) result.Id = doc.Id;
  result.Statement = keyed.map(([, s]) => s);
  return result;
}

/** True when two policies (documents, JSON or URL-encoded JSON) mean the same. */
export function policiesEqual(a: PolicyDocument | string, b: PolicyDocument | string): boolean {
  const doc = (x: PolicyDocument | string) => typeof x === "string" ? parsePolicyDocument(x) : x;
  return JSON.stringify(normalizePolicy(doc(a))) === JSON.stringify(normalizePolicy(doc(b)));
}

interface TrustSummary {
  principals: Set<string>;
  subjects: Set<string>;
  audiences: Set<string>;
}

function summarize(doc: NormalizedPolicy): TrustSummary {
  const summary: TrustSummary = { principals: new Set(), subjects: new Set(), audiences: new Set() };
  for (const s of doc.Statement) {
    if (s.Effect !== "Allow") continue;
    for (const p of s.Principal?.Federated ?? []) summary.principals.add(p);
    for (const [op, keys] of Object.entries(s.Condition ?? {})) {
      if (op.includes("Not")) continue;
      for (const [key, values] of Object.entries(keys)) {
        const target = key.endsWith(":sub") ? summary.subjects : key.endsWith(":aud") ? summary.audiences : undefined;
        for (const v of values) target?.add(op === "StringEquals" ? v : `${v} (${op})`);
      }
    }
  }
  return summary;
}

function setText(s: Set<string>): string {
  return s.size === 0 ? "(none)" : [...s].sort().map((v) => JSON.stringify(v)).join(", ");
}

function setsEqual(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

/**
 * Human-readable lines describing how `desired` differs from `current`, for --dry-run and diff; empty when they
 * mean the same. `current` undefined means the role does not exist yet.
 */
export function trustPolicyDiff(
  current: PolicyDocument | string | undefined,
  desired: PolicyDocument | string,
): string[] {
  const doc = (x: PolicyDocument | string) => typeof x === "string" ? parsePolicyDocument(x) : x;
  const want = normalizePolicy(doc(desired));
  const have = current === undefined ? { Statement: [] } : normalizePolicy(doc(current));
  if (JSON.stringify(have) === JSON.stringify(want)) return [];
  const a = summarize(have);
  const b = summarize(want);
  const lines: string[] = [];
  if (current === undefined) lines.push("+ trust policy (the role does not exist yet)");
  for (const s of [...b.subjects].sort()) if (!a.subjects.has(s)) lines.push(`+ subject ${s}`);
  for (const s of [...a.subjects].sort()) if (!b.subjects.has(s)) lines.push(`- subject ${s}`);
  if (!setsEqual(a.audiences, b.audiences)) {
    lines.push(`~ audience ${setText(a.audiences)} -> ${setText(b.audiences)}`);
  }
  if (!setsEqual(a.principals, b.principals)) {
    lines.push(`~ principal ${setText(a.principals)} -> ${setText(b.principals)}`);
  }
  if (lines.length === 0) lines.push("~ other trust policy changes (statements differ beyond subjects and audience)");
  return lines;
}
