// `kubectl irsa doctor`: proves the IRSA chain link by link, in the order STS walks it (REFERENCE §1 step 6), and
// names the first broken link with its fix. Each check is a pure evaluator over data the orchestrator gathered, so
// every verdict is unit-tested without a cluster; `runDoctor` only reads, it never changes anything (its one write,
// the webhook probe, is a server-side dry run).
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { validateRoleArn } from "./arn.ts";
import type { IamPort, ObservedOidcProvider, ObservedRole } from "./aws/iam_port.ts";
import type { StsPort } from "./aws/sts_port.ts";
import type { CloudFrontPort, ObservedDistribution } from "./aws/cloudfront_port.ts";
import type { ObservedBucket, S3Port } from "./aws/s3_port.ts";
import { cloudFrontBucketPolicy } from "./cloudfront_bucket_policy.ts";
import { bucketPolicyHasOurs, discoverySid } from "./bucket_policy.ts";
import { s3RestEndpoint } from "./hosting_plan.ts";
import { roleIsOurs } from "./bind_plan.ts";
import { type BindingPolicy, defaultRolePath } from "./binding_policy.ts";
import { isIrsaError } from "./errors.ts";
import { issuerHostPath } from "./issuer.ts";
import { matchesLabelSelector } from "./label_selector.ts";
import {
  awsEnv,
  discoveryKeys,
  doctorProbe,
  saAnnotation,
  setupRecord as setupRecordName,
  stsAudience,
  webhookObjects,
} from "./names.ts";
import { certificatesFromPem } from "./pki.ts";
import { evaluateTrust } from "./policy_eval.ts";
import { defaultWebhookConfig, missesCredentials, type Pod } from "./pod_mutation.ts";
import { parseSetupRecord, type SetupRecord } from "./setup_record.ts";
import type { DoctorKubePort, DoctorPod, DryRunPodOutcome, WebhookConfiguration } from "./kube/doctor_port.ts";

/** The verdict of one check. A warning (`ok: false, warning: true`) is reported but does not fail the run. */
export type CheckResult = { id: string; title: string; ok: boolean; warning?: boolean; detail: string; fix?: string };

/** Every check, in chain order, with its title. */
export const checkTitles = {
  setup: "Setup recorded by 'kubectl irsa init'",
  discovery: "Discovery document reachable anonymously over HTTPS",
  issuer: "Discovery issuer equals the apiserver's issuer",
  jwks: "jwks_uri resolves to a JWKS",
  kid: "Apiserver's signing key is published",
  signer: "Apiserver signs through the KMS-backed signer",
  provider: "IAM OIDC provider exists for the issuer URL",
  "client-id": "OIDC provider's client IDs include the audience",
  thumbprint: "OIDC provider thumbprint is sane",
  hosting: "Bucket is private and only its CloudFront distribution reads it",
  "api-audiences": "Apiserver does not accept the STS audience for itself",
  annotation: "ServiceAccount has a well-formed role-arn annotation",
  role: "IAM role exists",
  trust: "Trust policy allows the ServiceAccount's token",
  policies: "IAM role has policies",
  boundary: "IAM role has the binding policy's permissions boundary and path",
  pods: "Pods of the ServiceAccount are mutated",
  webhook: "Pod identity webhook is reachable with a current caBundle",
  sts: "STS AssumeRoleWithWebIdentity succeeds",
} as const;

/** The id of a check. */
export type CheckId = keyof typeof checkTitles;

function pass(id: CheckId, detail: string): CheckResult {
  return { id, title: checkTitles[id], ok: true, detail };
}

function fail(id: CheckId, detail: string, fix: string): CheckResult {
  return { id, title: checkTitles[id], ok: false, detail, fix };
}

function warn(id: CheckId, detail: string, fix?: string): CheckResult {
  return { id, title: checkTitles[id], ok: false, warning: true, detail, ...(fix !== undefined ? { fix } : {}) };
}

/** A check that could not run because an earlier link is broken; a warning so only the broken link fails. */
export function skipped(id: CheckId, because: string): CheckResult {
  return warn(id, `not checked: ${because}`);
}

/** True when no check failed (warnings allowed). */
export function doctorOk(checks: readonly CheckResult[]): boolean {
  return checks.every((c) => c.ok || c.warning === true);
}

/** The outcome of fetching one URL anonymously. */
export interface FetchOutcome {
  url: string;
  status?: number;
  body?: string;
  /** The network or TLS error, when no response came. */
  error?: string;
}

const reinit = "run 'kubectl irsa init' again with the same flags to republish the discovery documents";

/** `setup`: the record `init` wrote. */
export function checkSetup(text: string | undefined): { result: CheckResult; setup?: SetupRecord } {
  const where = `${setupRecordName.namespace}/${setupRecordName.name}`;
  if (text === undefined) {
    return { result: fail("setup", `no setup recorded in ConfigMap ${where}`, "run 'kubectl irsa init' first") };
  }
  try {
    const setup = parseSetupRecord({ [setupRecordName.key]: text });
    return { result: pass("setup", `issuer ${setup.issuer}, provider ${setup.providerArn}`), setup };
  } catch (e) {
    return { result: fail("setup", (e as Error).message, "run 'kubectl irsa init' again") };
  }
}

function looksUntrusted(error: string): boolean {
  return /certificate|UnknownIssuer|invalid peer|self[- ]signed|CERT_|tls/i.test(error);
}

/** `discovery`: `<issuer>/.well-known/openid-configuration` answered JSON over HTTPS with a trusted certificate. */
export function checkDiscovery(
  issuer: string,
  fetched: FetchOutcome,
): { result: CheckResult; document?: { issuer?: unknown; jwks_uri?: unknown } } {
  if (!issuer.startsWith("https://")) {
    return {
      result: fail(
        "discovery",
        `the issuer ${issuer} is not HTTPS; STS only fetches discovery documents over HTTPS`,
        "run 'kubectl irsa init' with an https:// --issuer-url",
      ),
    };
  }
  if (fetched.error !== undefined) {
    if (looksUntrusted(fetched.error)) {
      return {
        result: fail(
          "discovery",
          `the certificate of ${new URL(fetched.url).host} is not trusted: ${fetched.error}`,
          "serve the issuer with a publicly trusted certificate (S3 does); STS does not trust private CAs",
        ),
      };
    }
    return {
      result: fail(
        "discovery",
        `cannot fetch ${fetched.url}: ${fetched.error}`,
        "check that the issuer host is reachable from the internet",
      ),
    };
  }
  if (fetched.status !== 200) {
    const denied = fetched.status === 403;
    return {
      result: fail(
        "discovery",
        `GET ${fetched.url} answered HTTP ${fetched.status} to an anonymous request`,
        denied
          ? "make the object publicly readable with the bucket policy 'kubectl irsa init' writes; " + reinit
          : reinit,
      ),
    };
  }
  let document: unknown;
  try {
    document = JSON.parse(fetched.body ?? "");
  } catch {
    return { result: fail("discovery", `${fetched.url} is not JSON`, reinit) };
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    return { result: fail("discovery", `${fetched.url} is not a JSON object`, reinit) };
  }
  return { result: pass("discovery", `${fetched.url} answered anonymously`), document };
}

/**
 * `issuer`: the discovery document's `issuer`, the apiserver's issuer (the token's `iss`) and the recorded issuer
 * must be the same string: STS compares them byte for byte, so a trailing slash or http/https breaks the chain.
 */
export function checkIssuer(
  documentIssuer: unknown,
  apiserverIssuer: string | undefined,
  recordedIssuer: string,
): CheckResult {
  const shown = (s: unknown) => JSON.stringify(s);
  if (typeof documentIssuer !== "string") {
    return fail("issuer", `the discovery document has no "issuer"`, reinit);
  }
  if (documentIssuer !== recordedIssuer) {
    return fail(
      "issuer",
      `the discovery document says issuer ${shown(documentIssuer)} but init recorded ${shown(recordedIssuer)}` +
        mismatchHint(documentIssuer, recordedIssuer),
      reinit,
    );
  }
  if (apiserverIssuer === undefined) {
    return warn(
      "issuer",
      "could not learn the apiserver's issuer (no discovery document and no ServiceAccount to mint a token for)",
      "pass 'sa NAME -n NS' so the doctor can mint a token",
    );
  }
  if (apiserverIssuer !== documentIssuer) {
    return fail(
      "issuer",
      `the apiserver signs tokens with issuer ${shown(apiserverIssuer)} but the discovery document says ` +
        `${shown(documentIssuer)}${mismatchHint(apiserverIssuer, documentIssuer)}`,
      `make ${shown(documentIssuer)} the first --service-account-issuer of kube-apiserver (the change ` +
        "'kubectl irsa init' printed) and restart it",
    );
  }
  return pass("issuer", documentIssuer);
}

function mismatchHint(a: string, b: string): string {
  if (a.replace(/\/+$/, "") === b.replace(/\/+$/, "")) return " (they differ by a trailing slash)";
  if (a.replace(/^https?:/, "") === b.replace(/^https?:/, "")) return " (they differ in http/https)";
  return "";
}

/** `jwks`: `jwks_uri` is set, answers anonymously and holds a key set. */
export function checkJwks(jwksUri: unknown, fetched: FetchOutcome | undefined): {
  result: CheckResult;
  jwks?: JSONWebKeySet;
} {
  if (typeof jwksUri !== "string" || jwksUri === "") {
    return { result: fail("jwks", `the discovery document has no "jwks_uri"`, reinit) };
  }
  if (fetched === undefined || fetched.error !== undefined) {
    return {
      result: fail("jwks", `cannot fetch ${jwksUri}: ${fetched?.error ?? "not fetched"}`, reinit),
    };
  }
  if (fetched.status !== 200) {
    return { result: fail("jwks", `GET ${jwksUri} answered HTTP ${fetched.status} to an anonymous request`, reinit) };
  }
  let jwks: { keys?: unknown };
  try {
    jwks = JSON.parse(fetched.body ?? "");
  } catch {
    return { result: fail("jwks", `${jwksUri} is not JSON`, reinit) };
  }
  if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) {
    return { result: fail("jwks", `${jwksUri} holds no "keys"`, reinit) };
  }
  return {
    result: pass("jwks", `${jwksUri} holds ${jwks.keys.length} key${jwks.keys.length === 1 ? "" : "s"}`),
    jwks: jwks as JSONWebKeySet,
  };
}

/**
 * `kid`: the key id of a freshly minted token is in the published JWKS and its signature verifies with that key.
 * `signatureError` is undefined when the signature verified (see {@link verifySignature}).
 */
export function checkSigningKey(kid: string, jwks: JSONWebKeySet, signatureError: string | undefined): CheckResult {
  const kids = jwks.keys.map((k) => k.kid ?? "(none)");
  const fix = "publish the apiserver's current keys: " + reinit +
    " (cluster mode reads them from the apiserver's /openid/v1/jwks)";
  if (!kids.includes(kid)) {
    return fail(
      "kid",
      `the apiserver signs with kid ${JSON.stringify(kid)}, but the published JWKS has ${kids.join(", ")}`,
      fix,
    );
  }
  if (signatureError !== undefined) {
    return fail("kid", `kid ${JSON.stringify(kid)} is published but the token does not verify: ${signatureError}`, fix);
  }
  return pass("kid", `kid ${kid} is published and verifies a fresh token`);
}

/** Verifies a token's signature against a JWKS (no I/O); returns the error text, or undefined when it verifies. */
export async function verifySignature(token: string, jwks: JSONWebKeySet): Promise<string | undefined> {
  try {
    await jwtVerify(token, createLocalJWKSet(jwks));
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** `provider`: IAM holds the provider whose URL equals the issuer without the scheme. */
/** KMS key source: the token the apiserver just issued carries the kid of the signer's signing KMS key. */
export function checkSigner(setup: SetupRecord, kid: string): CheckResult {
  const keys = setup.kmsKeys ?? [];
  const signing = keys[0];
  if (signing !== undefined && kid === signing.kid) {
    return pass("signer", `tokens carry kid ${kid}, KMS key ${signing.key}`);
  }
  const listed = keys.find((k) => k.kid === kid);
  if (listed) {
    return fail(
      "signer",
      `tokens are signed with KMS key ${listed.key}, not the first recorded key ${signing?.key}`,
      "give the signer the same keys, in the same order, as 'kubectl irsa init --key-source kms'",
    );
  }
  return fail(
    "signer",
    `tokens carry kid ${
      kid || "(none)"
    }, which is none of the recorded KMS keys: the apiserver still signs with a key file`,
    "run kubectl irsa signer and restart kube-apiserver with the --service-account-signing-endpoint that init printed",
  );
}

/** CloudFront hosting: the distribution serves the bucket through an OAC, and the bucket is private to it. */
export function checkHosting(
  setup: SetupRecord,
  distribution: ObservedDistribution | undefined,
  bucket: ObservedBucket,
): CheckResult {
  const h = setup.hosting!;
  const problems: string[] = [];
  if (!distribution) {
    return fail(
      "hosting",
      `CloudFront distribution ${h.distributionId} does not exist`,
      "run 'kubectl irsa init --hosting cloudfront' again",
    );
  }
  if (!distribution.settings.enabled) problems.push("the distribution is disabled");
  const origin = distribution.settings.origins.find((o) => o.domainName === s3RestEndpoint(setup.bucket, setup.region));
  if (!origin) problems.push(`the distribution has no origin ${s3RestEndpoint(setup.bucket, setup.region)}`);
  else if (!origin.originAccessControlId) problems.push("its origin signs with no origin access control");
  if (!bucket.exists) problems.push(`bucket ${setup.bucket} does not exist`);
  else {
    const pab = bucket.publicAccessBlock;
    if (!(pab?.BlockPublicAcls && pab.IgnorePublicAcls && pab.BlockPublicPolicy && pab.RestrictPublicBuckets)) {
      problems.push("the bucket's Block Public Access is not fully on");
    }
    const ours = cloudFrontBucketPolicy({
      partition: setup.partition,
      bucket: setup.bucket,
      distributionArn: distribution.arn,
    });
    if (!bucketPolicyHasOurs(bucket.policy, ours)) {
      problems.push(`the bucket policy does not let distribution ${distribution.id} read the discovery objects`);
    }
    if (bucket.policy?.includes(`"${discoverySid}"`)) problems.push("the bucket policy still allows public reads");
  }
  if (problems.length > 0) {
    return fail("hosting", problems.join("; "), "run 'kubectl irsa init --hosting cloudfront' again to repair it");
  }
  return pass(
    "hosting",
    `${distribution.domainName} (${distribution.id}) reads s3://${setup.bucket}, which is private`,
  );
}

export function checkProvider(setup: SetupRecord, provider: ObservedOidcProvider | undefined): CheckResult {
  if (provider === undefined) {
    return fail(
      "provider",
      `IAM has no OIDC provider ${setup.providerArn} (STS would answer "No OpenIDConnect provider found")`,
      "run 'kubectl irsa init' again to register it",
    );
  }
  const want = issuerHostPath(setup.issuer);
  if (provider.url !== want) {
    return fail(
      "provider",
      `the provider's URL is ${JSON.stringify(provider.url)}, not ${JSON.stringify(want)}`,
      "delete the provider and run 'kubectl irsa init' again",
    );
  }
  return pass("provider", provider.arn);
}

/** `client-id`: the provider accepts the token audience. */
export function checkClientId(provider: ObservedOidcProvider, audience: string): CheckResult {
  if (!provider.clientIds.includes(audience)) {
    return fail(
      "client-id",
      `the provider's client IDs are ${JSON.stringify(provider.clientIds)}, without ${JSON.stringify(audience)} ` +
        `(STS would answer "Incorrect token audience")`,
      `aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn ${provider.arn} ` +
        `--client-id ${audience}`,
    );
  }
  return pass("client-id", `includes ${audience}`);
}

/**
 * `thumbprint`: every thumbprint is 40 hex characters. None at all is fine (optional since 2024 and ignored for
 * S3-hosted issuers); a live thumbprint that differs is a warning, since only non-S3 issuers depend on it.
 */
export function checkThumbprint(provider: ObservedOidcProvider, live: string | undefined): CheckResult {
  const bad = provider.thumbprints.filter((t) => !/^[0-9a-fA-F]{40}$/.test(t));
  if (bad.length > 0) {
    return fail(
      "thumbprint",
      `thumbprint ${JSON.stringify(bad[0])} is not 40 hexadecimal characters`,
      "run 'kubectl irsa init' again to compute it",
    );
  }
  if (provider.thumbprints.length === 0) return pass("thumbprint", "none registered (optional since 2024)");
  if (live !== undefined && !provider.thumbprints.map((t) => t.toLowerCase()).includes(live.toLowerCase())) {
    return warn(
      "thumbprint",
      `the issuer host now presents a chain with thumbprint ${live}, not ${provider.thumbprints.join(", ")}; ` +
        "AWS ignores it for S3-hosted issuers",
      "run 'kubectl irsa init' again to update it",
    );
  }
  return pass("thumbprint", provider.thumbprints.join(", "));
}

/**
 * `api-audiences`: a token minted for sts.amazonaws.com must not authenticate to the apiserver with its default
 * audiences; if it does, the apiserver lists that audience in --api-audiences and every token handed to AWS is
 * also a credential for the cluster.
 */
export function checkApiAudiences(review: { authenticated: boolean; error?: string } | undefined): CheckResult {
  if (review === undefined) return skipped("api-audiences", "no token could be minted");
  if (review.error !== undefined) return warn("api-audiences", `TokenReview failed: ${review.error}`);
  if (review.authenticated) {
    return warn(
      "api-audiences",
      `a token for audience ${stsAudience} authenticates to the apiserver: it is listed in --api-audiences`,
      `remove ${stsAudience} from kube-apiserver's --api-audiences; tokens for AWS use their own audience`,
    );
  }
  return pass("api-audiences", `tokens for ${stsAudience} do not authenticate to the apiserver`);
}

/** `annotation`: the ServiceAccount exists and carries a well-formed role ARN. */
export function checkAnnotation(
  ref: { namespace: string; name: string },
  annotations: Record<string, string> | undefined,
  setup: SetupRecord,
): { result: CheckResult; roleName?: string; roleArn?: string } {
  const who = `${ref.namespace}/${ref.name}`;
  const bind = `kubectl irsa bind sa ${ref.name} -n ${ref.namespace} --policy <POLICY>`;
  if (annotations === undefined) {
    return { result: fail("annotation", `ServiceAccount ${who} does not exist`, `run '${bind}'`) };
  }
  const roleArn = annotations[saAnnotation.roleArn];
  if (roleArn === undefined) {
    return {
      result: fail("annotation", `ServiceAccount ${who} has no ${saAnnotation.roleArn} annotation`, `run '${bind}'`),
    };
  }
  let parsed;
  try {
    parsed = validateRoleArn(roleArn);
  } catch (e) {
    if (!isIrsaError(e, "invalid")) throw e;
    return { result: fail("annotation", e.message, `run '${bind}' to rewrite the annotation`) };
  }
  if (parsed.account !== setup.account || parsed.partition !== setup.partition) {
    return {
      result: warn(
        "annotation",
        `${roleArn} is in account ${parsed.account} (${parsed.partition}), but the OIDC provider is in ` +
          `${setup.account} (${setup.partition}); the role must trust ${setup.providerArn}`,
      ),
      roleName: parsed.name,
      roleArn,
    };
  }
  return { result: pass("annotation", roleArn), roleName: parsed.name, roleArn };
}

/** `role`: the annotated role exists. */
export function checkRole(roleName: string, role: ObservedRole | undefined, ref: { namespace: string; name: string }) {
  if (role === undefined) {
    return fail(
      "role",
      `IAM role ${roleName} does not exist`,
      `run 'kubectl irsa bind sa ${ref.name} -n ${ref.namespace} --policy <POLICY>' to create it`,
    );
  }
  return pass("role", role.arn);
}

/**
 * `trust`: the role's trust policy allows AssumeRoleWithWebIdentity for the provider and the claims of a real
 * token. A `*` in StringEquals (which never matches) is surfaced even when another statement allows.
 */
export function checkTrust(
  role: ObservedRole,
  setup: SetupRecord,
  claims: { sub: string; aud: string | string[] },
  ref: { namespace: string; name: string },
): CheckResult {
  let decision;
  try {
    decision = evaluateTrust(role.trustPolicy, {
      principalArn: setup.providerArn,
      action: "sts:AssumeRoleWithWebIdentity",
      issuerHostPath: issuerHostPath(setup.issuer),
      claims,
    });
  } catch (e) {
    return fail("trust", `the trust policy cannot be read: ${(e as Error).message}`, "rewrite it with bind");
  }
  const fix = `run 'kubectl irsa bind sa ${ref.name} -n ${ref.namespace} --policy <POLICY>' to rewrite the trust ` +
    "policy (add --adopt for a role kubectl-irsa did not create)";
  const warnings = decision.warnings.length > 0 ? `; ${decision.warnings.join("; ")}` : "";
  if (!decision.allowed) {
    return fail(
      "trust",
      `the trust policy does not allow sub ${JSON.stringify(claims.sub)} (STS would answer "Not authorized to ` +
        `perform sts:AssumeRoleWithWebIdentity"): ${decision.reasons.join("; ")}${warnings}`,
      fix,
    );
  }
  if (decision.warnings.length > 0) return warn("trust", `allowed, but ${decision.warnings.join("; ")}`, fix);
  return pass("trust", `allows ${claims.sub}`);
}

/** `policies`: at least one managed policy or a non-empty inline policy. */
export function checkPolicies(role: ObservedRole, ref: { namespace: string; name: string }): CheckResult {
  const inline = Object.entries(role.inlinePolicies).filter(([, doc]) => doc.trim() !== "").map(([n]) => n);
  if (role.attachedPolicyArns.length === 0 && inline.length === 0) {
    return fail(
      "policies",
      `role ${role.name} has no attached or inline policy, so the pod gets credentials that can do nothing`,
      `run 'kubectl irsa bind sa ${ref.name} -n ${ref.namespace} --policy <POLICY>'`,
    );
  }
  return pass("policies", [...role.attachedPolicyArns, ...inline.map((n) => `inline ${n}`)].join(", "));
}

/** Whether the binding policy constrains every role (a boundary or a path); without it `boundary` is not shown. */
export function policyGovernsRoles(policy: BindingPolicy | undefined): boolean {
  return policy?.permissionsBoundary !== undefined || policy?.rolePath !== undefined;
}

/**
 * `boundary`: a role kubectl-irsa manages carries the binding policy's permissions boundary and lives under its role
 * path, the two limits the daemon's IAM policy relies on. A role kubectl-irsa does not manage is not the policy's.
 */
export function checkBoundary(
  role: ObservedRole,
  setup: SetupRecord,
  ref: { namespace: string; name: string },
): CheckResult {
  const policy = setup.bindingPolicy;
  if (!policyGovernsRoles(policy)) return pass("boundary", "the binding policy sets no permissions boundary or path");
  if (!roleIsOurs(role, setup)) {
    return skipped(
      "boundary",
      `role ${role.name} is not managed by kubectl-irsa for this cluster, and the binding policy covers only the ` +
        "roles kubectl-irsa creates",
    );
  }
  const required = policy?.permissionsBoundary;
  const path = defaultRolePath(policy);
  const problems: string[] = [];
  if (required !== undefined && role.permissionsBoundaryArn !== required) {
    problems.push(
      role.permissionsBoundaryArn === undefined
        ? `role ${role.name} has no permissions boundary; the binding policy requires ${required}`
        : `role ${role.name} has permissions boundary ${role.permissionsBoundaryArn}; the binding policy requires ` +
          required,
    );
  }
  const pathOutside = !role.path.startsWith(path);
  if (pathOutside) {
    problems.push(`role ${role.name} has path ${role.path}, outside ${path}, the binding policy's role path`);
  }
  if (problems.length === 0) {
    return pass("boundary", [required && `boundary ${required}`, `path ${role.path}`].filter(Boolean).join(", "));
  }
  const sa = `sa ${ref.name} -n ${ref.namespace}`;
  const policies = role.attachedPolicyArns.length > 0
    ? role.attachedPolicyArns.map((arn) => `--policy ${arn}`).join(" ")
    : "--policy <POLICY>";
  // IAM cannot change a role's path, so only a new role fixes it; a boundary is put on the existing role.
  const fix = pathOutside
    ? `IAM cannot move a role: run 'kubectl irsa unbind ${sa}', then bind it again ('kubectl irsa bind ${sa} ` +
      `${policies}' with its other flags), which creates the role under ${path}` +
      (required !== undefined ? " with the boundary" : "") + "; for an IRSA object, delete and recreate it"
    : `bind it again: run 'kubectl irsa bind ${sa} ${policies}' with its other flags, which sets the boundary; ` +
      "for an IRSA object, the daemon sets it on its next reconcile";
  return fail("boundary", problems.join("; "), fix);
}

/** `pods`: every live pod of the ServiceAccount carries the injected env and token volume. */
export function checkPods(pods: readonly DoctorPod[], annotations: Record<string, string>): CheckResult {
  const live = pods.filter((p) => p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed");
  if (live.length === 0) return pass("pods", "no pods run as this ServiceAccount");
  const missed = live.filter((p) => missesCredentials(p, annotations, defaultWebhookConfig));
  if (missed.length > 0) {
    const names = missed.map((p) => p.metadata.name);
    return fail(
      "pods",
      `${names.length} of ${live.length} pods lack AWS_ROLE_ARN/AWS_WEB_IDENTITY_TOKEN_FILE and the ` +
        `${"aws-iam-token"} volume: ${names.join(", ")}`,
      "make sure the webhook check passes, then restart those pods (they were created while the webhook was " +
        "down or before the annotation)",
    );
  }
  return pass("pods", `${live.length} pod${live.length === 1 ? "" : "s"} mutated`);
}

/** What the doctor observed about the webhook. */
export interface WebhookObservation {
  configuration: WebhookConfiguration | undefined;
  /** With clientConfig.url: the TLS probe with the caBundle. */
  probe?: { ok: true } | { ok: false; untrusted: boolean; error: string };
  /** With clientConfig.service: whether it exists and how many ready endpoints it has. */
  service?: { exists: boolean; readyAddresses: number };
  /** The CA the daemon currently signs its serving certificate with (ca.crt of its TLS Secret), when readable. */
  currentCaPem?: string;
  /** The ServiceAccount's namespace and its labels, which the webhook's namespaceSelector must select. */
  namespace?: { name: string; labels: Record<string, string> };
  /**
   * With clientConfig.service and a role-arn annotation: what admission did to a dry-run pod of the ServiceAccount
   * ({@link probePod}), the only view of a webhook behind a Service that the apiserver's own path gives.
   */
  dryRun?: {
    serviceAccount: { namespace: string; name: string };
    annotations: Record<string, string>;
    outcome: DryRunPodOutcome;
  };
}

/**
 * The pod `doctor` creates with dryRun=All to see what admission does to a pod of `ref`. It meets the restricted Pod
 * Security level, so a namespace enforcing it does not refuse the probe after the webhook has mutated it.
 */
export function probePod(ref: { namespace: string; name: string }): Pod & { apiVersion: "v1"; kind: "Pod" } {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { generateName: doctorProbe.generateName, namespace: ref.namespace },
    spec: {
      serviceAccountName: ref.name,
      securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: "RuntimeDefault" } },
      containers: [{
        name: doctorProbe.container,
        image: doctorProbe.image,
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
      }],
    },
  };
}

function sameCertificate(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** `webhook`: the configuration exists, points somewhere that answers with a trusted certificate, and its caBundle holds the current CA. */
export function checkWebhook(o: WebhookObservation): CheckResult {
  const name = webhookObjects.configuration;
  if (o.configuration === undefined) {
    return warn(
      "webhook",
      `no MutatingWebhookConfiguration ${name}; pods get no credentials unless another pod identity webhook runs`,
      "run 'kubectl irsa install'",
    );
  }
  const hook = o.configuration.webhooks?.find((w) => w.name === webhookObjects.webhookName) ??
    o.configuration.webhooks?.[0];
  if (hook === undefined) {
    return fail("webhook", `MutatingWebhookConfiguration ${name} has no webhook`, "run 'kubectl irsa install'");
  }
  if (o.namespace && !matchesLabelSelector(hook.namespaceSelector, o.namespace.labels)) {
    const ns = o.namespace.name;
    return fail(
      "webhook",
      `namespace ${ns} is outside the namespaceSelector of ${name}, so its pods are never mutated`,
      hook.clientConfig.service?.namespace === ns
        ? "the webhook never mutates its own namespace: run the workload in another one"
        : `run the workload in another namespace, or reinstall with 'kubectl irsa install ` +
          `--webhook-skip-namespaces LIST' where LIST leaves out ${ns}`,
    );
  }
  const caBundlePem = hook.clientConfig.caBundle ? atobText(hook.clientConfig.caBundle) : "";
  const silently = hook.failurePolicy === "Fail" ? "pods are refused" : "pods start without credentials";
  if (o.currentCaPem !== undefined) {
    const current = certificatesFromPem(o.currentCaPem)[0];
    let inBundle = false;
    try {
      inBundle = current !== undefined && certificatesFromPem(caBundlePem).some((c) => sameCertificate(c, current));
    } catch { /* an unparsable bundle holds nothing */ }
    if (current !== undefined && !inBundle) {
      return fail(
        "webhook",
        `the caBundle of ${name} does not hold the CA that signs the webhook's certificate now; ${silently}`,
        "restart the kubectl-irsa daemon, which republishes the caBundle, or run 'kubectl irsa install'",
      );
    }
  }
  const url = hook.clientConfig.url;
  if (url !== undefined) {
    if (o.probe === undefined) return warn("webhook", `${url} was not probed`);
    if (!o.probe.ok) {
      return fail(
        "webhook",
        o.probe.untrusted
          ? `${url} presents a certificate the caBundle does not verify: ${o.probe.error}; ${silently}`
          : `${url} is unreachable: ${o.probe.error}; ${silently}`,
        o.probe.untrusted
          ? "restart the kubectl-irsa daemon so it republishes the caBundle"
          : "start the kubectl-irsa daemon ('kubectl irsa install')",
      );
    }
    return pass("webhook", `${url} answers with a certificate the caBundle verifies`);
  }
  const svc = hook.clientConfig.service;
  if (svc === undefined) return fail("webhook", `webhook ${hook.name} has neither url nor service`, "reinstall");
  const where = `${svc.namespace}/${svc.name}`;
  const daemonPods = `check the daemon's pods: kubectl -n ${svc.namespace} get pods`;
  // The dry run stands in for an unreadable Service: it walks the apiserver's path, which is what matters.
  if (o.service === undefined && o.dryRun === undefined) return warn("webhook", `Service ${where} could not be read`);
  if (o.service !== undefined && !o.service.exists) {
    return fail("webhook", `Service ${where} does not exist; ${silently}`, "run 'kubectl irsa install'");
  }
  if (o.service !== undefined && o.service.readyAddresses === 0) {
    const seen = o.dryRun && dryRunConsequence(hook.name, o.dryRun);
    return fail("webhook", `Service ${where} has no ready endpoints; ${seen ?? silently}`, daemonPods);
  }
  if (caBundlePem === "") {
    return fail("webhook", `webhook ${hook.name} has no caBundle`, "restart the kubectl-irsa daemon");
  }
  const endpoints = o.service === undefined
    ? `Service ${where} could not be read`
    : `Service ${where} has ${o.service.readyAddresses} ready endpoint${o.service.readyAddresses === 1 ? "" : "s"}`;
  if (o.dryRun === undefined) {
    return warn("webhook", `${endpoints}; its certificate cannot be checked from outside the cluster`);
  }
  const { serviceAccount, annotations, outcome } = o.dryRun;
  const who = `${serviceAccount.namespace}/${serviceAccount.name}`;
  if (!outcome.admitted) {
    if (refusedByWebhook(hook.name, outcome.message)) {
      return fail(
        "webhook",
        `the apiserver refused a dry-run pod of ${who}: ${oneLine(outcome.message)}`,
        `${daemonPods}, and check that the apiserver reaches Service ${where} with TLS the caBundle verifies`,
      );
    }
    if (mayNotCreatePods(outcome)) {
      return warn(
        "webhook",
        `${endpoints}, but the link is unproven: the doctor may not create pods in ${serviceAccount.namespace}, ` +
          "not even as a dry run",
        `grant the doctor's user the 'create' verb on pods in ${serviceAccount.namespace} (a dry run persists ` +
          "nothing) and run it again",
      );
    }
    return warn(
      "webhook",
      `${endpoints}, but the link is unproven: a dry-run pod of ${who} was refused before its mutation could be ` +
        `seen: ${oneLine(outcome.message)}`,
    );
  }
  if (missesCredentials(outcome.pod, annotations, defaultWebhookConfig)) {
    return fail(
      "webhook",
      `the apiserver admitted a dry-run pod of ${who} without credentials (${endpoints})`,
      hook.failurePolicy === "Fail"
        ? `the webhook answered without a patch: ${daemonPods}, and read their logs for ServiceAccount ${who}`
        : "with failurePolicy Ignore a failed webhook call admits pods unmutated: look for 'failed calling " +
          `webhook' in the kube-apiserver's log, and ${daemonPods}`,
    );
  }
  const want = annotations[saAnnotation.roleArn];
  const got = outcome.pod.spec.containers[0]?.env?.find((e) => e.name === awsEnv.roleArn)?.value;
  if (got !== want) {
    return fail(
      "webhook",
      `a dry-run pod of ${who} got ${awsEnv.roleArn} ${got}, not ${want} from the ServiceAccount's annotation`,
      "another pod identity webhook, or a stale ServiceAccount cache, answers: restart the kubectl-irsa daemon and " +
        "look for other webhooks with 'kubectl get mutatingwebhookconfigurations'",
    );
  }
  return pass(
    "webhook",
    `${endpoints}; the apiserver called ${hook.name} and a dry-run pod of ${who} got ${awsEnv.roleArn} ${got}, ` +
      `${awsEnv.webIdentityTokenFile} and the projected token`,
  );
}

/** One line of an apiserver message: admission errors quote whole webhook responses. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, " ").trim();
}

/** The apiserver names the webhook when calling it failed or it denied the pod; other refusals are not ours. */
function refusedByWebhook(webhookName: string, message: string): boolean {
  return message.includes(`webhook ${JSON.stringify(webhookName)}`);
}

/** RBAC's refusal; a 403 from Pod Security or a quota is a refusal of the pod, not of the doctor's user. */
function mayNotCreatePods(outcome: { status?: number; message: string }): boolean {
  return outcome.status === 403 && (outcome.message === "" || /cannot create resource/.test(outcome.message));
}

/** What the dry run showed of a broken webhook, when it showed the consequence. */
function dryRunConsequence(webhookName: string, dryRun: NonNullable<WebhookObservation["dryRun"]>): string | undefined {
  const who = `${dryRun.serviceAccount.namespace}/${dryRun.serviceAccount.name}`;
  const { outcome } = dryRun;
  if (!outcome.admitted) {
    return refusedByWebhook(webhookName, outcome.message)
      ? `the apiserver refused a dry-run pod of ${who}: ${oneLine(outcome.message)}`
      : undefined;
  }
  return missesCredentials(outcome.pod, dryRun.annotations, defaultWebhookConfig)
    ? `the apiserver admitted a dry-run pod of ${who} without credentials`
    : undefined;
}

function atobText(b64: string): string {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
  } catch {
    return "";
  }
}

/** A decoded STS failure: the broken link (a check id where one fits), its cause and the fix. */
export interface StsDiagnosis {
  link: string;
  cause: string;
  fix: string;
}

const stsErrors: { match: RegExp; diagnosis: StsDiagnosis }[] = [
  {
    match: /No OpenIDConnect provider found/i,
    diagnosis: {
      link: "provider",
      cause: "IAM has no OIDC provider whose URL equals the token's iss exactly (scheme and trailing slash aside)",
      fix: "run 'kubectl irsa init' to register the provider, and check that kube-apiserver's first " +
        "--service-account-issuer is the recorded issuer",
    },
  },
  {
    match: /Couldn't retrieve verification key/i,
    diagnosis: {
      link: "jwks",
      cause: "STS could not fetch the discovery document or the JWKS anonymously, or found no key with the " +
        "token's kid",
      fix: "check the discovery, issuer, jwks and kid checks; " + reinit,
    },
  },
  {
    match: /Incorrect token audience/i,
    diagnosis: {
      link: "client-id",
      cause: "the token's aud is not among the OIDC provider's client IDs",
      fix: "add the audience (sts.amazonaws.com) to the provider's client IDs, or mint the token for it",
    },
  },
  {
    match: /Not authorized to perform sts:AssumeRoleWithWebIdentity/i,
    diagnosis: {
      link: "trust",
      cause: "the role's trust policy does not allow this provider, sub or aud (a '*' in StringEquals never matches)",
      fix: "rewrite the trust policy with 'kubectl irsa bind sa NAME -n NS --policy …'",
    },
  },
  {
    match: /Request ARN is invalid/i,
    diagnosis: {
      link: "annotation",
      cause: "the role ARN in the ServiceAccount annotation is malformed",
      fix: "fix the eks.amazonaws.com/role-arn annotation, e.g. with 'kubectl irsa bind'",
    },
  },
  {
    match: /Token is expired|ExpiredTokenException|token.*expired/i,
    diagnosis: {
      link: "token",
      cause: "the web identity token has expired (or is not valid yet: check the node's clock)",
      fix: "let the kubelet refresh the projected token; check clock skew between nodes and AWS",
    },
  },
  {
    match: /InvalidIdentityToken|not a valid JWT|invalid.*token/i,
    diagnosis: {
      link: "token",
      cause: "STS rejected the token: its signature, issuer or claims do not check out",
      fix: "run 'kubectl irsa doctor sa NAME -n NS' and fix the first failing check",
    },
  },
];

/** Names the broken link of an STS/SDK error text, with its cause and fix; undefined for unknown errors. */
export function translateStsError(text: string): StsDiagnosis | undefined {
  return stsErrors.find((e) => e.match.test(text))?.diagnosis;
}

/** `sts`: the live exchange. `error` is undefined on success. */
export function checkSts(roleArn: string, error: string | undefined): CheckResult {
  if (error === undefined) return pass("sts", `STS issued credentials for ${roleArn}`);
  const d = translateStsError(error);
  if (d === undefined) return fail("sts", error, "see the error; the checks above show which link is broken");
  return fail("sts", `${error} (broken link: ${d.link}: ${d.cause})`, d.fix);
}

/** Everything the doctor reads. */
export interface DoctorPorts {
  kube: DoctorKubePort;
  /** AWS ports, opened once the setup (and so the region) is known. */
  aws(setup: SetupRecord): Promise<{
    iam: Pick<IamPort, "getOidcProvider" | "getRole">;
    sts: Pick<StsPort, "assumeRoleWithWebIdentity">;
    /** CloudFront hosting only. */
    cloudfront?: Pick<CloudFrontPort, "getDistribution">;
    s3?: Pick<S3Port, "observeBucket">;
  }>;
  /** The live thumbprint of the issuer host, when it can be read. */
  issuerThumbprint?(issuer: string): Promise<string>;
  /** Connects to a webhook URL trusting only `caBundlePem`. */
  probeWebhook(url: string, caBundlePem: string): Promise<NonNullable<WebhookObservation["probe"]>>;
}

/** What to check. */
export interface DoctorOptions {
  serviceAccount?: { namespace: string; name: string };
  /** Also run a live AssumeRoleWithWebIdentity (needs `serviceAccount`). */
  sts: boolean;
  /** Fetches URLs anonymously, as STS does. */
  fetcher: (url: string) => Promise<Response>;
}

async function fetchOutcome(url: string, fetcher: DoctorOptions["fetcher"]): Promise<FetchOutcome> {
  try {
    const res = await fetcher(url);
    return { url, status: res.status, body: await res.text() };
  } catch (e) {
    const err = e as Error;
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return { url, error: `${err.message}${cause}` };
  }
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Runs every check in chain order. Only reads: nothing in the cluster or in AWS is changed (the webhook probe is a
 * dry run, which the apiserver admits but never persists).
 */
export async function runDoctor(ports: DoctorPorts, options: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const sa = options.serviceAccount;
  const saChecks: CheckId[] = ["annotation", "role", "trust", "policies", "boundary", "pods", "webhook"];
  // Known once the setup is read; until then no policy is known, so `boundary` is not shown.
  let governed = false;
  // Checks of one kind of setup only: unknown until it is read.
  let signs = false;
  let hosted = false;
  const later = (from: CheckId, because: string) => {
    const ids = Object.keys(checkTitles) as CheckId[];
    for (const id of ids.slice(ids.indexOf(from))) {
      if (!sa && saChecks.includes(id)) continue;
      if (id === "sts" && !options.sts) continue;
      if (id === "boundary" && !governed) continue;
      if ((id === "signer" && !signs) || (id === "hosting" && !hosted)) continue;
      results.push(skipped(id, because));
    }
  };

  let setupText: string | undefined;
  try {
    setupText = await ports.kube.setupRecord();
  } catch (e) {
    results.push(fail("setup", `cannot read the setup record: ${errorText(e)}`, "check the kubeconfig"));
    later("discovery", "the setup record is unreadable");
    return results;
  }
  const { result: setupResult, setup } = checkSetup(setupText);
  results.push(setupResult);
  if (setup === undefined) {
    later("discovery", "no setup recorded");
    return results;
  }
  governed = policyGovernsRoles(setup.bindingPolicy);
  signs = setup.keySource === "kms";
  hosted = setup.hosting !== undefined;

  // A real token: for the target ServiceAccount, else any ServiceAccount the apiserver has.
  let saAnnotations: Record<string, string> | undefined;
  let saError: string | undefined;
  if (sa) {
    try {
      saAnnotations = await ports.kube.serviceAccount(sa.namespace, sa.name);
    } catch (e) {
      saError = errorText(e);
    }
  }
  const audience = saAnnotations?.[saAnnotation.audience] ?? stsAudience;
  let token: string | undefined;
  let tokenError: string | undefined;
  try {
    const subject = sa && saAnnotations !== undefined ? sa : await ports.kube.anyServiceAccount();
    if (subject) token = await ports.kube.mintToken(subject, audience);
    else tokenError = "no ServiceAccount found to mint a token for";
  } catch (e) {
    tokenError = `TokenRequest failed: ${errorText(e)}`;
  }
  let claims: Record<string, unknown> = {};
  let kid = "";
  if (token !== undefined) {
    claims = decodeJwt(token);
    kid = String(decodeProtectedHeader(token).kid ?? "");
  }
  let apiserverIssuer = typeof claims.iss === "string" ? claims.iss : undefined;
  if (apiserverIssuer === undefined) apiserverIssuer = await ports.kube.apiserverIssuer().catch(() => undefined);

  const discoveryUrl = `${setup.issuer}/${discoveryKeys.configuration}`;
  const discovery = checkDiscovery(setup.issuer, await fetchOutcome(discoveryUrl, options.fetcher));
  results.push(discovery.result);
  let jwks: JSONWebKeySet | undefined;
  if (discovery.document) {
    results.push(checkIssuer(discovery.document.issuer, apiserverIssuer, setup.issuer));
    const uri = discovery.document.jwks_uri;
    const fetched = typeof uri === "string" && uri !== "" ? await fetchOutcome(uri, options.fetcher) : undefined;
    const j = checkJwks(uri, fetched);
    results.push(j.result);
    jwks = j.jwks;
  } else {
    results.push(skipped("issuer", "no discovery document"), skipped("jwks", "no discovery document"));
  }
  if (jwks === undefined) results.push(skipped("kid", "no published JWKS"));
  else if (token === undefined) results.push(skipped("kid", tokenError ?? "no token"));
  else results.push(checkSigningKey(kid, jwks, await verifySignature(token, jwks)));
  if (setup.keySource === "kms") {
    results.push(token === undefined ? skipped("signer", tokenError ?? "no token") : checkSigner(setup, kid));
  }

  let aws: Awaited<ReturnType<DoctorPorts["aws"]>>;
  try {
    aws = await ports.aws(setup);
  } catch (e) {
    results.push(fail("provider", `cannot reach AWS: ${errorText(e)}`, "check the AWS credentials and region"));
    later("client-id", "AWS is unreachable");
    return results;
  }
  let provider: ObservedOidcProvider | undefined;
  try {
    provider = await aws.iam.getOidcProvider(setup.providerArn);
    const p = checkProvider(setup, provider);
    results.push(p);
    if (!p.ok) provider = undefined;
  } catch (e) {
    results.push(fail("provider", errorText(e), "check that the AWS credentials allow iam:GetOpenIDConnectProvider"));
  }
  if (provider) {
    results.push(checkClientId(provider, audience));
    const live = ports.issuerThumbprint ? await ports.issuerThumbprint(setup.issuer).catch(() => undefined) : undefined;
    results.push(checkThumbprint(provider, live));
  } else {
    results.push(skipped("client-id", "no OIDC provider"), skipped("thumbprint", "no OIDC provider"));
  }
  if (setup.hosting?.kind === "cloudfront") {
    const h = setup.hosting;
    try {
      if (!aws.cloudfront || !aws.s3) throw new Error("no CloudFront or S3 port");
      const [distribution, bucket] = await Promise.all([
        aws.cloudfront.getDistribution(h.distributionId),
        aws.s3.observeBucket(setup.bucket, { account: setup.account, region: setup.region, keys: [] }),
      ]);
      results.push(checkHosting(setup, distribution, bucket));
    } catch (e) {
      results.push(
        fail("hosting", errorText(e), "check that the AWS credentials allow cloudfront:GetDistribution and S3 reads"),
      );
    }
  }

  let review: { authenticated: boolean; error?: string } | undefined;
  if (token !== undefined && audience === stsAudience) {
    review = await ports.kube.reviewToken(token).catch((e) => ({ authenticated: false, error: errorText(e) }));
  } else if (token !== undefined) {
    // The SA's own audience is not sts.amazonaws.com: mint one for the question at hand.
    const subject = sa && saAnnotations !== undefined ? sa : undefined;
    if (subject) {
      review = await ports.kube.mintToken(subject, stsAudience).then((t) => ports.kube.reviewToken(t))
        .catch((e) => ({ authenticated: false, error: errorText(e) }));
    }
  }
  results.push(checkApiAudiences(review));

  if (!sa) return results;
  if (saError !== undefined) {
    results.push(fail("annotation", `cannot read ServiceAccount ${sa.namespace}/${sa.name}: ${saError}`, "check RBAC"));
    later("role", "the ServiceAccount is unreadable");
    return results;
  }
  const annotation = checkAnnotation(sa, saAnnotations, setup);
  results.push(annotation.result);
  let role: ObservedRole | undefined;
  if (annotation.roleName !== undefined) {
    try {
      role = await aws.iam.getRole(annotation.roleName);
      results.push(checkRole(annotation.roleName, role, sa));
    } catch (e) {
      results.push(fail("role", errorText(e), "check that the AWS credentials allow iam:GetRole"));
    }
  } else {
    results.push(skipped("role", "no role ARN"));
  }
  if (role === undefined) {
    results.push(skipped("trust", "no role"), skipped("policies", "no role"));
    if (governed) results.push(skipped("boundary", "no role"));
  } else {
    if (token === undefined) results.push(skipped("trust", tokenError ?? "no token"));
    else {
      const aud = claims.aud;
      results.push(
        checkTrust(role, setup, {
          sub: String(claims.sub ?? ""),
          aud: Array.isArray(aud) ? aud.map(String) : String(aud ?? ""),
        }, sa),
      );
    }
    results.push(checkPolicies(role, sa));
    if (governed) results.push(checkBoundary(role, setup, sa));
  }

  if (annotation.roleArn === undefined) results.push(skipped("pods", "no role ARN"));
  else {
    try {
      results.push(checkPods(await ports.kube.podsOf(sa.namespace, sa.name), saAnnotations ?? {}));
    } catch (e) {
      results.push(warn("pods", `cannot list pods: ${errorText(e)}`));
    }
  }
  results.push(
    await observeWebhook(ports, sa, saAnnotations).then(checkWebhook, (e) => warn("webhook", errorText(e))),
  );

  if (options.sts) {
    if (annotation.roleArn === undefined) results.push(skipped("sts", "no role ARN"));
    else if (token === undefined) results.push(skipped("sts", tokenError ?? "no token"));
    else {
      const error = await aws.sts.assumeRoleWithWebIdentity(annotation.roleArn, token).then(
        () => undefined,
        (e) => errorText(e),
      );
      results.push(checkSts(annotation.roleArn, error));
    }
  }
  return results;
}

async function observeWebhook(
  ports: DoctorPorts,
  sa: { namespace: string; name: string },
  annotations: Record<string, string> | undefined,
): Promise<WebhookObservation> {
  const namespace = sa.namespace;
  const configuration = await ports.kube.webhookConfiguration();
  const observation: WebhookObservation = { configuration };
  if (configuration === undefined) return observation;
  const hook = configuration.webhooks?.find((w) => w.name === webhookObjects.webhookName) ??
    configuration.webhooks?.[0];
  if (hook === undefined) return observation;
  const labels = await ports.kube.namespaceLabels(namespace).catch(() => undefined);
  if (labels !== undefined) observation.namespace = { name: namespace, labels };
  const current = await ports.kube.webhookCa().catch(() => undefined);
  if (current !== undefined) observation.currentCaPem = current;
  if (hook.clientConfig.url !== undefined) {
    observation.probe = await ports.probeWebhook(
      hook.clientConfig.url,
      hook.clientConfig.caBundle ? atobText(hook.clientConfig.caBundle) : "",
    );
  } else if (hook.clientConfig.service !== undefined) {
    const { namespace, name } = hook.clientConfig.service;
    const service = await ports.kube.serviceEndpoints(namespace, name).catch(() => undefined);
    if (service !== undefined) observation.service = service;
    // Without a role ARN the webhook has nothing to inject, so a dry run could prove nothing.
    if (annotations?.[saAnnotation.roleArn]) {
      const outcome = await ports.kube.dryRunCreatePod(sa.namespace, probePod(sa)).catch((e): DryRunPodOutcome => ({
        admitted: false,
        message: errorText(e),
      }));
      observation.dryRun = { serviceAccount: sa, annotations, outcome };
    }
  }
  return observation;
}
