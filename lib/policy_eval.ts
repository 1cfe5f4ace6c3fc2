// moto's AssumeRoleWithWebIdentity checks nothing, so tests and `doctor` need their own answer to "would STS let
// this token assume the role?". This evaluator covers the subset of IAM's logic that trust policies for web
// identities use, and errs towards "not allowed" for anything it does not understand.

import { parseArn } from "./arn.ts";
import { type NormalizedStatement, normalizePolicy, parsePolicyDocument, type PolicyDocument } from "./trust_policy.ts";

/** The request STS evaluates: who (the OIDC provider), what (the action) and the token's claims. */
export interface TrustRequest {
  /** ARN of the OIDC provider that issued the token (the Federated principal). */
  principalArn: string;
  /** Usually sts:AssumeRoleWithWebIdentity. */
  action: string;
  /** Token claims; `aud` may be a list. */
  claims: Readonly<Record<string, string | string[]>>;
  /** Prefix of condition keys; derived from principalArn when omitted. */
  issuerHostPath?: string;
}

/** Outcome of {@link evaluateTrust}. */
export interface TrustDecision {
  allowed: boolean;
  /** Why: the statement that allowed or denied, or why each Allow statement did not match. */
  reasons: string[];
  /** Policy constructs that are legal but almost certainly not what the author meant. */
  warnings: string[];
}

type BaseOp =
  | "StringEquals"
  | "StringNotEquals"
  | "StringEqualsIgnoreCase"
  | "StringNotEqualsIgnoreCase"
  | "StringLike"
  | "StringNotLike";
const baseOps: readonly string[] = [
  "StringEquals",
  "StringNotEquals",
  "StringEqualsIgnoreCase",
  "StringNotEqualsIgnoreCase",
  "StringLike",
  "StringNotLike",
];

interface Operator {
  name: string;
  set: "ForAnyValue" | "ForAllValues" | undefined;
  base: BaseOp | "Null";
  ifExists: boolean;
}

function parseOperator(name: string): Operator | undefined {
  let rest = name;
  let set: Operator["set"];
  for (const prefix of ["ForAnyValue", "ForAllValues"] as const) {
    if (rest.startsWith(`${prefix}:`)) {
      set = prefix;
      rest = rest.slice(prefix.length + 1);
    }
  }
  const ifExists = rest.endsWith("IfExists");
  if (ifExists) rest = rest.slice(0, -"IfExists".length);
  if (rest === "Null" && set === undefined && !ifExists) return { name, set, base: "Null", ifExists };
  if (!baseOps.includes(rest)) return undefined;
  return { name, set, base: rest as BaseOp, ifExists };
}

/** IAM wildcard match: `*` any run of characters, `?` exactly one. */
export function wildcardMatch(pattern: string, value: string, options: { ignoreCase?: boolean } = {}): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${source}$`, options.ignoreCase ? "is" : "s").test(value);
}

function valueMatches(base: BaseOp, policyValue: string, value: string): boolean {
  switch (base) {
    case "StringEquals":
    case "StringNotEquals":
      return policyValue === value;
    case "StringEqualsIgnoreCase":
    case "StringNotEqualsIgnoreCase":
      return policyValue.toLowerCase() === value.toLowerCase();
    case "StringLike":
    case "StringNotLike":
      return wildcardMatch(policyValue, value);
  }
}

const negated = (base: BaseOp) => base.includes("Not");

/** Evaluates one operator on one key; `values` undefined means the claim is absent. */
function conditionHolds(op: Operator, policyValues: string[], values: string[] | undefined): boolean {
  if (op.base === "Null") {
    // Null: "true" asks that the key be absent, "false" that it be present.
    return policyValues.some((p) => (p === "true") === (values === undefined));
  }
  const base = op.base;
  if (values === undefined || values.length === 0) {
    if (op.set === "ForAllValues") return true;
    if (op.set === "ForAnyValue") return false;
    return op.ifExists || negated(base);
  }
  const positive = (v: string) => policyValues.some((p) => valueMatches(base, p, v));
  const one = (v: string) => negated(base) ? !positive(v) : positive(v);
  if (op.set === "ForAllValues") return values.every(one);
  if (op.set === "ForAnyValue") return values.some(one);
  // A single-valued operator on a list claim: positive operators need one match, negated ones need no match.
  return negated(base) ? values.every(one) : values.some(one);
}

function claimFor(key: string, hostPath: string, claims: TrustRequest["claims"]): string[] | undefined {
  // Condition key names are case-insensitive in IAM.
  const prefix = `${hostPath}:`.toLowerCase();
  if (!key.toLowerCase().startsWith(prefix)) return undefined;
  const claim = key.slice(prefix.length);
  const found = Object.entries(claims).find(([k]) => k.toLowerCase() === claim.toLowerCase());
  if (found === undefined) return undefined;
  return Array.isArray(found[1]) ? found[1] : [found[1]];
}

interface StatementResult {
  matches: boolean;
  unsupported: string[];
  misses: string[];
}

function evaluateStatement(
  s: NormalizedStatement,
  request: TrustRequest,
  hostPath: string,
  warnings: string[],
): StatementResult {
  const misses: string[] = [];
  const unsupported: string[] = [];
  const principalIn = (p: Record<string, string[]>) =>
    (p.Federated ?? []).includes(request.principalArn) || (p.AWS ?? []).includes("*");
  if (s.Principal !== undefined) {
    if (!principalIn(s.Principal)) {
      misses.push(`principal ${JSON.stringify(request.principalArn)} is not among ${JSON.stringify(s.Principal)}`);
    }
  } else if (s.NotPrincipal !== undefined) {
    if (principalIn(s.NotPrincipal)) misses.push(`principal ${JSON.stringify(request.principalArn)} is excluded`);
  } else {
    misses.push("the statement has no Principal");
  }
  const actionIn = (list: string[]) => list.some((a) => wildcardMatch(a, request.action, { ignoreCase: true }));
  if (s.Action !== undefined) {
    if (!actionIn(s.Action)) misses.push(`action ${request.action} is not among ${JSON.stringify(s.Action)}`);
  } else if (s.NotAction !== undefined) {
    if (actionIn(s.NotAction)) misses.push(`action ${request.action} is excluded by NotAction`);
  } else {
    misses.push("the statement has no Action");
  }
  for (const [opName, keys] of Object.entries(s.Condition ?? {})) {
    const op = parseOperator(opName);
    if (op === undefined) {
      unsupported.push(opName);
      continue;
    }
    for (const [key, policyValues] of Object.entries(keys)) {
      if (op.base === "StringEquals" || op.base === "StringEqualsIgnoreCase") {
        if (policyValues.some((v) => /[*?]/.test(v))) {
          warnings.push(`Condition key ${key}: '*' in ${op.base} is literal; use StringLike`);
        }
      }
      const values = claimFor(key, hostPath, request.claims);
      if (!conditionHolds(op, policyValues, values)) {
        const got = values === undefined ? "absent" : JSON.stringify(values.length === 1 ? values[0] : values);
        misses.push(`${opName} ${key}: claim is ${got}, policy wants ${JSON.stringify(policyValues)}`);
      }
    }
  }
  return { matches: misses.length === 0 && unsupported.length === 0, unsupported, misses };
}

/**
 * Decides whether a trust policy lets a web-identity token assume the role: an explicit Deny wins; otherwise an
 * Allow statement must match the Federated principal, the action and every condition (operators AND-ed, keys
 * AND-ed, values of one key OR-ed). Condition keys `<issuer host/path>:<claim>` read the token's claims.
 */
export function evaluateTrust(policy: PolicyDocument | string, request: TrustRequest): TrustDecision {
  const doc = normalizePolicy(typeof policy === "string" ? parsePolicyDocument(policy) : policy);
  let hostPath = request.issuerHostPath;
  if (hostPath === undefined) {
    const resource = parseArn(request.principalArn).resource;
    hostPath = resource.startsWith("oidc-provider/") ? resource.slice("oidc-provider/".length) : resource;
  }
  const warnings: string[] = [];
  const reasons: string[] = [];
  const allows: string[] = [];
  const denies: string[] = [];
  const unsupported: string[] = [];
  doc.Statement.forEach((s, i) => {
    const label = `statement ${i}${s.Sid === undefined ? "" : ` (${s.Sid})`}`;
    const r = evaluateStatement(s, request, hostPath, warnings);
    for (const op of r.unsupported) unsupported.push(`${label}: unsupported condition operator ${op}`);
    if (r.matches && s.Effect === "Deny") denies.push(`${label} explicitly denies`);
    else if (r.matches && s.Effect === "Allow") allows.push(`${label} allows`);
    else if (s.Effect === "Allow") reasons.push(...r.misses.map((m) => `${label}: ${m}`));
  });
  const uniqueWarnings = [...new Set(warnings)];
  // An operator we cannot evaluate might be the one that denies, so it never yields "allowed".
  if (unsupported.length > 0) return { allowed: false, reasons: unsupported, warnings: uniqueWarnings };
  if (denies.length > 0) return { allowed: false, reasons: denies, warnings: uniqueWarnings };
  if (allows.length > 0) return { allowed: true, reasons: allows, warnings: uniqueWarnings };
  if (reasons.length === 0) reasons.push("no statement allows the request (implicit deny)");
  return { allowed: false, reasons, warnings: uniqueWarnings };
}
