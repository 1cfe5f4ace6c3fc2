// moto evaluates an identity policy's Action and Resource but not its conditions, and the daemon's least-privilege
// policy rests on conditions (the boundary, the ownership tag, the refused policies). This evaluator answers "would
// IAM allow this exact request under this identity policy?" for the subset of IAM's logic that policy uses, and
// throws on anything it does not understand rather than guess.

import { invalid } from "./errors.ts";
import { wildcardMatch } from "./policy_eval.ts";
import { parsePolicyDocument, type PolicyDocument } from "./trust_policy.ts";

/** One request as IAM authorizes it: the action, the resource ARN and the request context. */
export interface IdentityRequest {
  /** `service:Operation`, e.g. iam:CreateRole. */
  action: string;
  /** The ARN the action is on ("*" for actions without a resource). */
  resource: string;
  /** Condition keys present in the request (`aws:RequestTag/k`, `iam:PermissionsBoundary`, …); lists are multivalued. */
  context: Readonly<Record<string, string | string[]>>;
}

/** Outcome of {@link evaluateIdentityPolicy}. */
export interface IdentityDecision {
  decision: "Allow" | "ExplicitDeny" | "ImplicitDeny";
  /** The deciding statement: its Sid, or `Statement[i]`; absent for an implicit deny. */
  statement?: string;
  /** Why: the statements that matched, or why each statement naming the action did not. */
  reasons: string[];
}

type BaseOp =
  | "StringEquals"
  | "StringNotEquals"
  | "StringLike"
  | "StringNotLike"
  | "ArnEquals"
  | "ArnLike"
  | "ArnNotEquals"
  | "ArnNotLike"
  | "Bool"
  | "Null";
const baseOps: readonly string[] = [
  "StringEquals",
  "StringNotEquals",
  "StringLike",
  "StringNotLike",
  "ArnEquals",
  "ArnLike",
  "ArnNotEquals",
  "ArnNotLike",
  "Bool",
  "Null",
] satisfies BaseOp[];

interface Operator {
  name: string;
  set: "ForAnyValue" | "ForAllValues" | undefined;
  base: BaseOp;
  ifExists: boolean;
}

interface Statement {
  label: string;
  effect: "Allow" | "Deny";
  action?: string[];
  notAction?: string[];
  resource?: string[];
  notResource?: string[];
  conditions: { op: Operator; key: string; values: string[] }[];
}

const statementKeys = ["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"];

function unsupported(message: string): Error {
  return invalid("UnsupportedPolicy", `Cannot evaluate the identity policy: ${message}`);
}

function parseOperator(name: string): Operator {
  let rest = name;
  let set: Operator["set"];
  const prefix = /^(ForAnyValue|ForAllValues):/.exec(rest);
  if (prefix) {
    set = prefix[1] as Operator["set"];
    rest = rest.slice(prefix[0].length);
  }
  const ifExists = rest.endsWith("IfExists");
  if (ifExists) rest = rest.slice(0, -"IfExists".length);
  if (!baseOps.includes(rest)) throw unsupported(`condition operator ${name} is not supported`);
  // Null tests presence itself, so a set qualifier or IfExists on it has no meaning; IAM rejects them too.
  if (rest === "Null" && (set !== undefined || ifExists)) throw unsupported(`condition operator ${name} is invalid`);
  return { name, set, base: rest as BaseOp, ifExists };
}

function stringList(v: unknown, what: string): string[] {
  const items = Array.isArray(v) ? v : [v];
  return items.map((x) => {
    if (typeof x !== "string" && typeof x !== "number" && typeof x !== "boolean") {
      throw unsupported(`${what} holds ${JSON.stringify(x)}, not a string`);
    }
    const s = String(x);
    // Policy variables would need the principal's context; never match them literally.
    if (s.includes("${")) throw unsupported(`${what} uses the policy variable in ${JSON.stringify(s)}`);
    return s;
  });
}

function parseStatement(raw: unknown, index: number): Statement {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw unsupported(`Statement[${index}] is not an object`);
  }
  const s = raw as Record<string, unknown>;
  const sid = typeof s.Sid === "string" && s.Sid !== "" ? s.Sid : undefined;
  const label = sid ?? `Statement[${index}]`;
  const extra = Object.keys(s).filter((k) => !statementKeys.includes(k));
  if (extra.length > 0) throw unsupported(`${label} has ${extra.join(", ")}, which an identity policy cannot have`);
  if (s.Effect !== "Allow" && s.Effect !== "Deny") throw unsupported(`${label} has Effect ${JSON.stringify(s.Effect)}`);
  const pair = (a: "Action" | "Resource") => {
    const not = `Not${a}` as const;
    if ((s[a] === undefined) === (s[not] === undefined)) {
      throw unsupported(`${label} needs exactly one of ${a}, ${not}`);
    }
    return s[a] !== undefined
      ? { yes: stringList(s[a], `${label}.${a}`) }
      : { no: stringList(s[not], `${label}.${not}`) };
  };
  const action = pair("Action");
  const resource = pair("Resource");
  const conditions: Statement["conditions"] = [];
  if (s.Condition !== undefined) {
    if (typeof s.Condition !== "object" || s.Condition === null || Array.isArray(s.Condition)) {
      throw unsupported(`${label}.Condition is not an object`);
    }
    for (const [opName, keys] of Object.entries(s.Condition)) {
      const op = parseOperator(opName);
      if (typeof keys !== "object" || keys === null || Array.isArray(keys) || Object.keys(keys).length === 0) {
        throw unsupported(`${label}: ${opName} has no condition keys`);
      }
      for (const [key, v] of Object.entries(keys)) {
        const values = stringList(v, `${label} ${opName} ${key}`);
        if (values.length === 0) throw unsupported(`${label}: ${opName} ${key} has no values`);
        if ((op.base === "Bool" || op.base === "Null") && !values.every((x) => /^(true|false)$/i.test(x))) {
          throw unsupported(`${label}: ${opName} ${key} wants ${JSON.stringify(values)}, not true or false`);
        }
        conditions.push({ op, key, values });
      }
    }
  }
  const out: Statement = { label, effect: s.Effect, conditions };
  if (action.yes) out.action = action.yes;
  if (action.no) out.notAction = action.no;
  if (resource.yes) out.resource = resource.yes;
  if (resource.no) out.notResource = resource.no;
  return out;
}

// ARN operators compare the six colon-separated parts one by one, each with wildcards; the resource part may itself
// hold colons. A value that is not an ARN only matches a pattern that is not one either (e.g. "*").
function arnMatches(pattern: string, value: string): boolean {
  const parts = (s: string) => {
    const p = s.split(":");
    return p.length < 6 ? undefined : [...p.slice(0, 5), p.slice(5).join(":")];
  };
  const pp = parts(pattern);
  if (pp === undefined) return wildcardMatch(pattern, value);
  const vp = parts(value);
  return vp !== undefined && pp.every((p, i) => wildcardMatch(p, vp[i]!));
}

function valueMatches(base: Exclude<BaseOp, "Null">, policyValue: string, value: string): boolean {
  switch (base) {
    case "StringEquals":
    case "StringNotEquals":
      return policyValue === value;
    case "StringLike":
    case "StringNotLike":
      return wildcardMatch(policyValue, value);
    case "ArnEquals":
    case "ArnLike":
    case "ArnNotEquals":
    case "ArnNotLike":
      return arnMatches(policyValue, value);
    case "Bool":
      return policyValue.toLowerCase() === value.toLowerCase();
  }
}

/** One operator on one key; `values` undefined means the key is not in the request context. */
function conditionHolds(op: Operator, policyValues: string[], values: string[] | undefined): boolean {
  const absent = values === undefined || values.length === 0;
  // Null "true" asks that the key be absent, "false" that it be present.
  if (op.base === "Null") return policyValues.some((p) => (p.toLowerCase() === "true") === absent);
  const base = op.base;
  const negated = base.includes("Not");
  if (absent) {
    // A missing key makes a condition false, except under IfExists, a negated operator, or ForAllValues (which
    // holds for the empty set); IAM's documented rule.
    if (op.ifExists || op.set === "ForAllValues") return true;
    if (op.set === "ForAnyValue") return false;
    return negated;
  }
  // Several policy values are OR-ed for positive operators and NOR-ed for negated ones.
  const one = (v: string) => {
    const hit = policyValues.some((p) => valueMatches(base, p, v));
    return negated ? !hit : hit;
  };
  if (op.set === "ForAllValues") return values.every(one);
  if (op.set === "ForAnyValue") return values.some(one);
  // A single-valued operator on a multivalued key: a positive one needs one match, a negated one none.
  return negated ? values.every(one) : values.some(one);
}

function contextValues(context: IdentityRequest["context"], key: string): string[] | undefined {
  // Condition key names are case-insensitive; their values are not.
  const found = Object.entries(context).find(([k]) => k.toLowerCase() === key.toLowerCase());
  if (found === undefined) return undefined;
  return Array.isArray(found[1]) ? found[1] : [found[1]];
}

/** Why the statement does not apply to the request (none: it does); `concerned` when the action is in it. */
function evaluateStatement(s: Statement, request: IdentityRequest): { concerned: boolean; misses: string[] } {
  const actionIn = (list: string[]) => list.some((a) => wildcardMatch(a, request.action, { ignoreCase: true }));
  const resourceIn = (list: string[]) => list.some((r) => wildcardMatch(r, request.resource));
  const concerned = s.action !== undefined ? actionIn(s.action) : !actionIn(s.notAction!);
  if (!concerned) return { concerned, misses: [`action ${request.action} is not in it`] };
  const misses: string[] = [];
  if (s.resource !== undefined ? !resourceIn(s.resource) : resourceIn(s.notResource!)) {
    misses.push(
      `resource ${request.resource} is not in ${JSON.stringify(s.resource ?? { NotResource: s.notResource })}`,
    );
  }
  for (const c of s.conditions) {
    const values = contextValues(request.context, c.key);
    if (!conditionHolds(c.op, c.values, values)) {
      const got = values === undefined ? "absent" : JSON.stringify(values.length === 1 ? values[0] : values);
      misses.push(`${c.op.name} ${c.key}: the request has ${got}, the policy ${JSON.stringify(c.values)}`);
    }
  }
  return { concerned, misses };
}

/**
 * Decides one request under an identity policy as IAM does: an explicit Deny that matches wins, else an Allow that
 * matches allows, else the request is implicitly denied. A statement matches when the action is in Action (or not in
 * NotAction; wildcards, case-insensitive), the resource in Resource (or not in NotResource; wildcards,
 * case-sensitive) and every condition holds (operators and keys AND-ed, values OR-ed). Throws IrsaError("invalid",
 * "UnsupportedPolicy") for any element, operator or policy variable it does not implement, before deciding.
 */
export function evaluateIdentityPolicy(doc: PolicyDocument | string, request: IdentityRequest): IdentityDecision {
  const policy = typeof doc === "string" ? parsePolicyDocument(doc) : doc;
  const raw: unknown[] = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement];
  const statements = raw.map(parseStatement);
  const denies: string[] = [];
  const allows: string[] = [];
  const reasons: string[] = [];
  for (const s of statements) {
    const r = evaluateStatement(s, request);
    if (r.misses.length === 0) (s.effect === "Deny" ? denies : allows).push(s.label);
    else if (r.concerned) reasons.push(...r.misses.map((m) => `${s.label} (${s.effect}) does not apply: ${m}`));
  }
  if (denies.length > 0) {
    return { decision: "ExplicitDeny", statement: denies[0]!, reasons: denies.map((d) => `${d} denies`) };
  }
  if (allows.length > 0) {
    return { decision: "Allow", statement: allows[0]!, reasons: allows.map((a) => `${a} allows`) };
  }
  reasons.push(`no statement allows ${request.action} on ${request.resource} (implicit deny)`);
  return { decision: "ImplicitDeny", reasons };
}
