import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { exportJWK, generateKeyPair, type JSONWebKeySet, SignJWT } from "jose";
import type { ObservedOidcProvider, ObservedRole } from "./aws/iam_port.ts";
import {
  checkAnnotation,
  checkApiAudiences,
  checkBoundary,
  checkClientId,
  checkDiscovery,
  checkIssuer,
  checkJwks,
  checkPods,
  checkPolicies,
  checkProvider,
  type CheckResult,
  checkRole,
  checkSetup,
  checkSigningKey,
  checkSts,
  checkThumbprint,
  checkTrust,
  checkWebhook,
  doctorOk,
  type DoctorPorts,
  probePod,
  runDoctor,
  translateStsError,
  verifySignature,
  type WebhookObservation,
} from "./doctor.ts";
import type { DoctorPod, DryRunPodOutcome, WebhookConfiguration } from "./kube/doctor_port.ts";
import {
  applyJsonPatch,
  defaultWebhookConfig,
  identityFromAnnotations,
  type ListedPod,
  mutatePod,
} from "./pod_mutation.ts";
import { awsTag, managedByValue } from "./names.ts";
import { createRootCa } from "./pki.ts";
import { serializeSetupRecord, type SetupRecord } from "./setup_record.ts";
import { buildTrustPolicy } from "./trust_policy.ts";

const issuer = "https://s3.eu-west-1.amazonaws.com/b";
const hostPath = "s3.eu-west-1.amazonaws.com/b";
const providerArn = `arn:aws:iam::123456789012:oidc-provider/${hostPath}`;
const roleArn = "arn:aws:iam::123456789012:role/irsa-c-demo_app";
const setup: SetupRecord = {
  issuer,
  jwksUri: `${issuer}/keys.json`,
  providerArn,
  bucket: "b",
  region: "eu-west-1",
  account: "123456789012",
  partition: "aws",
  keySource: "cluster",
  clusterName: "c",
  previousIssuers: [],
};
const ref = { namespace: "demo", name: "app" };
const sub = "system:serviceaccount:demo:app";

/** The verdict in one word, for table assertions. */
const verdict = (r: CheckResult) => r.ok ? "ok" : r.warning ? "warn" : "fail";

const provider = (over: Partial<ObservedOidcProvider> = {}): ObservedOidcProvider => ({
  arn: providerArn,
  url: hostPath,
  clientIds: ["sts.amazonaws.com"],
  thumbprints: ["a".repeat(40)],
  tags: {},
  ...over,
});

const trust = buildTrustPolicy({
  providerArn,
  issuerHostPath: hostPath,
  subjects: [{ namespace: "demo", serviceAccount: "app" }],
});
const role = (over: Partial<ObservedRole> = {}): ObservedRole => ({
  arn: roleArn,
  name: "irsa-c-demo_app",
  path: "/",
  trustPolicy: encodeURIComponent(JSON.stringify(trust)),
  tags: {},
  maxSessionDuration: 3600,
  permissionsBoundaryArn: undefined,
  attachedPolicyArns: ["arn:aws:iam::aws:policy/AmazonS3FullAccess"],
  inlinePolicies: {},
  ...over,
});

Deno.test("translateStsError() names the broken link of every STS failure", async (t) => {
  const cases: { name: string; text: string; link: string | undefined }[] = [
    {
      name: "no provider",
      text:
        "InvalidIdentityToken: No OpenIDConnect provider found in your account for https://s3.eu-west-1.amazonaws.com/b",
      link: "provider",
    },
    {
      name: "verification key",
      text: "InvalidIdentityToken: Couldn't retrieve verification key from your identity provider,  please reference " +
        "AssumeRoleWithWebIdentity documentation for requirements",
      link: "jwks",
    },
    { name: "audience", text: "InvalidIdentityToken: Incorrect token audience", link: "client-id" },
    {
      name: "trust mismatch",
      text: "AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity",
      link: "trust",
    },
    { name: "bad role ARN", text: "ValidationError: Request ARN is invalid", link: "annotation" },
    { name: "expired token text", text: "ExpiredTokenException: Token is expired", link: "token" },
    {
      name: "expired token code only",
      text: "sts:AssumeRoleWithWebIdentity failed: ExpiredTokenException",
      link: "token",
    },
    { name: "invalid token", text: "InvalidIdentityToken: the token signature is invalid", link: "token" },
    { name: "matches regardless of case", text: "incorrect TOKEN audience", link: "client-id" },
    { name: "unknown error", text: "Throttling: Rate exceeded", link: undefined },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const d = translateStsError(c.text);
      equal(d?.link, c.link);
      if (d) ok(d.cause.length > 0 && d.fix.length > 0, "a cause and a fix");
    });
  }
});

Deno.test("checkSts() passes on success and decodes a failure into its link and fix", () => {
  equal(verdict(checkSts(roleArn, undefined)), "ok");
  const failed = checkSts(roleArn, "InvalidIdentityToken: Incorrect token audience");
  equal(verdict(failed), "fail");
  ok(failed.detail.includes("broken link: client-id"));
  ok(failed.fix?.includes("client IDs"));
  equal(verdict(checkSts(roleArn, "Throttling")), "fail");
});

Deno.test("checkSetup() fails without a record or with a damaged one", async (t) => {
  await t.step("missing", () => {
    const { result, setup: s } = checkSetup(undefined);
    equal(verdict(result), "fail");
    equal(s, undefined);
    ok(result.fix?.includes("kubectl irsa init"));
  });
  await t.step("damaged", () => equal(verdict(checkSetup("{").result), "fail"));
  await t.step("present", () => {
    const { result, setup: s } = checkSetup(serializeSetupRecord(setup));
    equal(verdict(result), "ok");
    deepStrictEqual(s, setup);
  });
});

Deno.test("checkDiscovery() wants an anonymous HTTPS 200 with a JSON object", async (t) => {
  const url = `${issuer}/.well-known/openid-configuration`;
  const cases: { name: string; issuer?: string; fetched: Parameters<typeof checkDiscovery>[1]; want: string }[] = [
    { name: "ok", fetched: { url, status: 200, body: `{"issuer":"${issuer}"}` }, want: "ok" },
    { name: "http issuer", issuer: "http://x/b", fetched: { url, status: 200, body: "{}" }, want: "fail" },
    { name: "untrusted certificate", fetched: { url, error: "invalid peer certificate: UnknownIssuer" }, want: "fail" },
    { name: "unreachable", fetched: { url, error: "connection refused" }, want: "fail" },
    { name: "403 (not public)", fetched: { url, status: 403, body: "AccessDenied" }, want: "fail" },
    { name: "404", fetched: { url, status: 404, body: "" }, want: "fail" },
    { name: "not JSON", fetched: { url, status: 200, body: "<html>" }, want: "fail" },
    { name: "JSON array", fetched: { url, status: 200, body: "[]" }, want: "fail" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => equal(verdict(checkDiscovery(c.issuer ?? issuer, c.fetched).result), c.want));
  }
  await t.step("an untrusted certificate is named as such", () => {
    const r = checkDiscovery(issuer, { url, error: "invalid peer certificate: UnknownIssuer" }).result;
    ok(r.detail.includes("not trusted"), r.detail);
  });
  await t.step("403 says the object must be public", () => {
    const r = checkDiscovery(issuer, { url, status: 403 }).result;
    ok(r.fix?.includes("bucket policy"), r.fix);
  });
});

Deno.test("checkIssuer() compares document, apiserver and record byte for byte", async (t) => {
  const cases: { name: string; doc: unknown; api: string | undefined; want: string; hint?: string }[] = [
    { name: "all equal", doc: issuer, api: issuer, want: "ok" },
    { name: "trailing slash in the document", doc: `${issuer}/`, api: issuer, want: "fail", hint: "trailing slash" },
    {
      name: "http in the document",
      doc: issuer.replace("https", "http"),
      api: issuer,
      want: "fail",
      hint: "http/https",
    },
    { name: "apiserver still on the old issuer", doc: issuer, api: "https://kubernetes.default.svc", want: "fail" },
    { name: "apiserver with trailing slash", doc: issuer, api: `${issuer}/`, want: "fail", hint: "trailing slash" },
    { name: "no issuer field", doc: undefined, api: issuer, want: "fail" },
    { name: "apiserver issuer unknown", doc: issuer, api: undefined, want: "warn" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const r = checkIssuer(c.doc, c.api, issuer);
      equal(verdict(r), c.want, r.detail);
      if (c.hint) ok(r.detail.includes(c.hint), r.detail);
    });
  }
});

Deno.test("checkJwks() wants jwks_uri to answer a non-empty key set", async (t) => {
  const uri = `${issuer}/keys.json`;
  const cases: { name: string; uri: unknown; fetched: Parameters<typeof checkJwks>[1]; want: string }[] = [
    { name: "ok", uri, fetched: { url: uri, status: 200, body: `{"keys":[{"kid":"a"}]}` }, want: "ok" },
    { name: "no jwks_uri", uri: undefined, fetched: undefined, want: "fail" },
    { name: "deleted (S3 answers 403/404)", uri, fetched: { url: uri, status: 404, body: "" }, want: "fail" },
    { name: "network error", uri, fetched: { url: uri, error: "refused" }, want: "fail" },
    { name: "not JSON", uri, fetched: { url: uri, status: 200, body: "x" }, want: "fail" },
    { name: "empty keys", uri, fetched: { url: uri, status: 200, body: `{"keys":[]}` }, want: "fail" },
  ];
  for (const c of cases) await t.step(c.name, () => equal(verdict(checkJwks(c.uri, c.fetched).result), c.want));
});

Deno.test("checkSigningKey() needs the token's kid in the JWKS and a verifying signature", async (t) => {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const other = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  const token = await new SignJWT({ sub }).setProtectedHeader({ alg: "RS256", kid: "k1" }).setIssuer(issuer)
    .setAudience("sts.amazonaws.com").setIssuedAt().setExpirationTime("10m").sign(privateKey);
  const published: JSONWebKeySet = { keys: [jwk] };
  await t.step("published and verifying", async () => {
    equal(verdict(checkSigningKey("k1", published, await verifySignature(token, published))), "ok");
  });
  await t.step("kid missing", async () => {
    const wrong: JSONWebKeySet = { keys: [{ ...jwk, kid: "k2" }] };
    const r = checkSigningKey("k1", wrong, await verifySignature(token, wrong));
    equal(verdict(r), "fail");
    ok(r.detail.includes(`"k1"`) && r.detail.includes("k2"), r.detail);
  });
  await t.step("same kid, other key material", async () => {
    const swapped: JSONWebKeySet = { keys: [{ ...(await exportJWK(other.publicKey)), kid: "k1", alg: "RS256" }] };
    const error = await verifySignature(token, swapped);
    ok(error !== undefined);
    equal(verdict(checkSigningKey("k1", swapped, error)), "fail");
  });
});

Deno.test("checkProvider(), checkClientId() and checkThumbprint() judge the IAM OIDC provider", async (t) => {
  const cases: { name: string; result: () => CheckResult; want: string }[] = [
    { name: "provider present", result: () => checkProvider(setup, provider()), want: "ok" },
    { name: "provider missing", result: () => checkProvider(setup, undefined), want: "fail" },
    {
      name: "provider with another URL",
      result: () => checkProvider(setup, provider({ url: `${hostPath}/` })),
      want: "fail",
    },
    { name: "client ID present", result: () => checkClientId(provider(), "sts.amazonaws.com"), want: "ok" },
    {
      name: "client ID missing",
      result: () => checkClientId(provider({ clientIds: ["other"] }), "sts.amazonaws.com"),
      want: "fail",
    },
    {
      name: "custom audience missing",
      result: () => checkClientId(provider(), "my-audience"),
      want: "fail",
    },
    { name: "thumbprint 40 hex", result: () => checkThumbprint(provider(), undefined), want: "ok" },
    {
      name: "no thumbprint (optional)",
      result: () => checkThumbprint(provider({ thumbprints: [] }), undefined),
      want: "ok",
    },
    {
      name: "placeholder thumbprint",
      result: () => checkThumbprint(provider({ thumbprints: ["0000"] }), undefined),
      want: "fail",
    },
    {
      name: "thumbprint matches the live chain (case-insensitive)",
      result: () => checkThumbprint(provider(), "A".repeat(40)),
      want: "ok",
    },
    {
      name: "thumbprint differs from the live chain",
      result: () => checkThumbprint(provider(), "b".repeat(40)),
      want: "warn",
    },
  ];
  for (const c of cases) await t.step(c.name, () => equal(verdict(c.result()), c.want));
});

Deno.test("checkApiAudiences() warns when an STS token authenticates to the apiserver", async (t) => {
  const cases: { name: string; review: Parameters<typeof checkApiAudiences>[0]; want: string }[] = [
    { name: "not authenticated", review: { authenticated: false }, want: "ok" },
    { name: "authenticated", review: { authenticated: true }, want: "warn" },
    { name: "review failed", review: { authenticated: false, error: "forbidden" }, want: "warn" },
    { name: "no token", review: undefined, want: "warn" },
  ];
  for (const c of cases) await t.step(c.name, () => equal(verdict(checkApiAudiences(c.review)), c.want));
});

Deno.test("checkAnnotation() wants an existing ServiceAccount with a well-formed role ARN", async (t) => {
  const cases: { name: string; annotations: Record<string, string> | undefined; want: string; role?: string }[] = [
    { name: "ok", annotations: { "eks.amazonaws.com/role-arn": roleArn }, want: "ok", role: "irsa-c-demo_app" },
    { name: "no ServiceAccount", annotations: undefined, want: "fail" },
    { name: "no annotation", annotations: {}, want: "fail" },
    { name: "malformed ARN", annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x" }, want: "fail" },
    { name: "not a role", annotations: { "eks.amazonaws.com/role-arn": "arn:aws:s3:::bucket" }, want: "fail" },
    {
      name: "role in another account",
      annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::999999999999:role/x" },
      want: "warn",
      role: "x",
    },
    {
      name: "role under a path",
      annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/k8s/app" },
      want: "ok",
      role: "app",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const r = checkAnnotation(ref, c.annotations, setup);
      equal(verdict(r.result), c.want, r.result.detail);
      equal(r.roleName, c.role);
    });
  }
  await t.step("a malformed ARN names STS's symptom", () => {
    const r = checkAnnotation(ref, { "eks.amazonaws.com/role-arn": "nope" }, setup).result;
    ok(r.detail.includes("Request ARN is invalid"), r.detail);
  });
});

Deno.test("checkRole() and checkPolicies() judge the role", async (t) => {
  const cases: { name: string; result: () => CheckResult; want: string }[] = [
    { name: "role exists", result: () => checkRole("r", role(), ref), want: "ok" },
    { name: "role missing", result: () => checkRole("r", undefined, ref), want: "fail" },
    { name: "managed policy attached", result: () => checkPolicies(role(), ref), want: "ok" },
    {
      name: "only an inline policy",
      result: () => checkPolicies(role({ attachedPolicyArns: [], inlinePolicies: { p: "{}" } }), ref),
      want: "ok",
    },
    {
      name: "no policy",
      result: () => checkPolicies(role({ attachedPolicyArns: [], inlinePolicies: { p: " " } }), ref),
      want: "fail",
    },
  ];
  for (const c of cases) await t.step(c.name, () => equal(verdict(c.result()), c.want));
});

const boundaryArn = "arn:aws:iam::123456789012:policy/irsa-boundary";
/** The ownership tags bind puts on a role it creates for this cluster. */
const ours = { [awsTag.managedBy]: managedByValue, [awsTag.cluster]: hostPath };

Deno.test("checkBoundary() wants the binding policy's boundary and path on every role kubectl-irsa manages", async (t) => {
  const governed = { ...setup, bindingPolicy: { permissionsBoundary: boundaryArn } };
  const cases: { name: string; setup: SetupRecord; role: ObservedRole; want: string; detail?: string }[] = [
    {
      name: "the required boundary",
      setup: governed,
      role: role({ tags: ours, permissionsBoundaryArn: boundaryArn }),
      want: "ok",
    },
    {
      name: "no boundary",
      setup: governed,
      role: role({ tags: ours }),
      want: "fail",
      detail: `role irsa-c-demo_app has no permissions boundary; the binding policy requires ${boundaryArn}`,
    },
    {
      name: "another boundary",
      setup: governed,
      role: role({ tags: ours, permissionsBoundaryArn: "arn:aws:iam::aws:policy/AdministratorAccess" }),
      want: "fail",
      detail: "role irsa-c-demo_app has permissions boundary arn:aws:iam::aws:policy/AdministratorAccess; the " +
        `binding policy requires ${boundaryArn}`,
    },
    { name: "no binding policy", setup, role: role({ tags: ours }), want: "ok" },
    {
      name: "a binding policy without boundary or path",
      setup: { ...setup, bindingPolicy: { inlinePolicies: "Allow" } },
      role: role({ tags: ours }),
      want: "ok",
    },
    {
      name: "a path under the policy's",
      setup: { ...setup, bindingPolicy: { rolePath: "/tenants/" } },
      role: role({ tags: ours, path: "/tenants/a/" }),
      want: "ok",
    },
    {
      name: "a path outside the policy's",
      setup: { ...setup, bindingPolicy: { rolePath: "/tenants/" } },
      role: role({ tags: ours, path: "/" }),
      want: "fail",
      detail: "role irsa-c-demo_app has path /, outside /tenants/, the binding policy's role path",
    },
    {
      name: "both wrong, both named",
      setup: { ...setup, bindingPolicy: { rolePath: "/tenants/", permissionsBoundary: boundaryArn } },
      role: role({ tags: ours, path: "/other/" }),
      want: "fail",
      detail: `role irsa-c-demo_app has no permissions boundary; the binding policy requires ${boundaryArn}; ` +
        "role irsa-c-demo_app has path /other/, outside /tenants/, the binding policy's role path",
    },
    {
      name: "a role kubectl-irsa does not manage is not judged",
      setup: governed,
      role: role({ tags: {} }),
      want: "warn",
    },
    {
      name: "a role of another cluster is not judged",
      setup: governed,
      role: role({ tags: { ...ours, [awsTag.cluster]: "elsewhere.example.com" } }),
      want: "warn",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const r = checkBoundary(c.role, c.setup, ref);
      equal(verdict(r), c.want, r.detail);
      if (c.detail !== undefined) equal(r.detail, c.detail);
      if (c.want === "fail") ok(!r.detail.includes("\n") && r.fix !== undefined && !r.fix.includes("\n"), "one line");
    });
  }
  await t.step("a missing boundary is fixed by binding again, naming the role's policies", () => {
    const r = checkBoundary(role({ tags: ours }), governed, ref);
    equal(
      r.fix,
      "bind it again: run 'kubectl irsa bind sa app -n demo --policy arn:aws:iam::aws:policy/AmazonS3FullAccess' " +
        "with its other flags, which sets the boundary; for an IRSA object, the daemon sets it on its next reconcile",
    );
  });
  await t.step("a wrong path is fixed only by a new role", () => {
    const r = checkBoundary(role({ tags: ours }), { ...setup, bindingPolicy: { rolePath: "/tenants/" } }, ref);
    ok(r.fix?.startsWith("IAM cannot move a role: run 'kubectl irsa unbind sa app -n demo'"), r.fix);
    ok(r.fix?.includes("creates the role under /tenants/;"), r.fix);
  });
});

Deno.test("checkTrust() evaluates the trust policy against a real token's claims", async (t) => {
  const withSub = (value: string, op = "StringEquals") =>
    role({
      trustPolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{
          Effect: "Allow",
          Principal: { Federated: providerArn },
          Action: "sts:AssumeRoleWithWebIdentity",
          Condition: { [op]: { [`${hostPath}:sub`]: value, [`${hostPath}:aud`]: "sts.amazonaws.com" } },
        }],
      }),
    });
  const cases: { name: string; role: ObservedRole; aud?: string; want: string; detail?: string }[] = [
    { name: "built policy allows", role: role(), want: "ok" },
    { name: "another sub", role: withSub("system:serviceaccount:demo:other"), want: "fail", detail: "Not authorized" },
    { name: "wrong audience", role: role(), aud: "other", want: "fail" },
    {
      name: "'*' in StringEquals never matches, and says so",
      role: withSub("system:serviceaccount:demo:*"),
      want: "fail",
      detail: "StringLike",
    },
    { name: "StringLike wildcard allows", role: withSub("system:serviceaccount:demo:*", "StringLike"), want: "ok" },
    {
      name: "another provider",
      role: role({
        trustPolicy: JSON.stringify(
          buildTrustPolicy({
            providerArn: "arn:aws:iam::123456789012:oidc-provider/x.example/b",
            issuerHostPath: "x.example/b",
            subjects: [{ namespace: "demo", serviceAccount: "app" }],
          }),
        ),
      }),
      want: "fail",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const r = checkTrust(c.role, setup, { sub, aud: c.aud ?? "sts.amazonaws.com" }, ref);
      equal(verdict(r), c.want, r.detail);
      if (c.detail) ok(r.detail.includes(c.detail), r.detail);
    });
  }
  await t.step("'*' in StringEquals next to an allowing statement is a warning", () => {
    const doc = JSON.parse(JSON.stringify(trust));
    doc.Statement.push({
      Effect: "Allow",
      Principal: { Federated: providerArn },
      Action: "sts:AssumeRoleWithWebIdentity",
      Condition: { StringEquals: { [`${hostPath}:sub`]: "system:serviceaccount:*:app" } },
    });
    const r = checkTrust(role({ trustPolicy: JSON.stringify(doc) }), setup, { sub, aud: "sts.amazonaws.com" }, ref);
    equal(verdict(r), "warn", r.detail);
  });
});

const pod = (name: string, mutated: boolean, phase = "Pending"): DoctorPod => ({
  metadata: { name, namespace: "demo", uid: name },
  spec: {
    serviceAccountName: "app",
    containers: [{
      name: "c",
      ...(mutated
        ? {
          env: [
            { name: "AWS_ROLE_ARN", value: roleArn },
            { name: "AWS_WEB_IDENTITY_TOKEN_FILE", value: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token" },
          ],
          volumeMounts: [{
            name: "aws-iam-token",
            mountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount",
            readOnly: true,
          }],
        }
        : {}),
    }],
    ...(mutated
      ? {
        volumes: [{
          name: "aws-iam-token",
          projected: {
            sources: [{
              serviceAccountToken: { audience: "sts.amazonaws.com", expirationSeconds: 86400, path: "token" },
            }],
          },
        }],
      }
      : {}),
  },
  status: { phase },
});

Deno.test("checkPods() fails for live pods without the injected credentials", async (t) => {
  const annotations = { "eks.amazonaws.com/role-arn": roleArn };
  const cases: { name: string; pods: DoctorPod[]; want: string }[] = [
    { name: "no pods", pods: [], want: "ok" },
    { name: "mutated pod", pods: [pod("a", true)], want: "ok" },
    { name: "unmutated pod", pods: [pod("a", true), pod("b", false)], want: "fail" },
    { name: "finished unmutated pods do not count", pods: [pod("b", false, "Succeeded")], want: "ok" },
    {
      name: "opted-out pods do not count",
      pods: [{
        ...pod("b", false),
        metadata: { ...pod("b", false).metadata, labels: { "eks.amazonaws.com/skip-pod-identity-webhook": "" } },
      }],
      want: "ok",
    },
  ];
  for (const c of cases) await t.step(c.name, () => equal(verdict(checkPods(c.pods, annotations)), c.want));
  await t.step("names the unmutated pods", () => {
    ok(checkPods([pod("b", false)], annotations).detail.includes("b"));
  });
});

type ClientConfig = NonNullable<WebhookConfiguration["webhooks"]>[number]["clientConfig"];

Deno.test("checkWebhook() wants a reachable webhook whose caBundle holds the current CA", async (t) => {
  const current = await createRootCa("current");
  const old = await createRootCa("old");
  const config = (clientConfig: ClientConfig): WebhookConfiguration => ({
    metadata: { name: "kubectl-irsa" },
    webhooks: [{ name: "pod-identity.kubectl-irsa.io", failurePolicy: "Ignore", clientConfig }],
  });
  const url = "https://127.0.0.1:9443/mutate";
  const bundle = (pem: string) => btoa(pem);
  const selecting = (c: WebhookConfiguration): WebhookConfiguration => ({
    ...c,
    webhooks: c.webhooks!.map((w) => ({
      ...w,
      namespaceSelector: {
        matchExpressions: [{
          key: "kubernetes.io/metadata.name",
          operator: "NotIn",
          values: ["kube-system", "irsa-manager-system"],
        }],
      },
    })),
  });
  const service = { namespace: "irsa-manager-system", name: "kubectl-irsa" };
  const cases: { name: string; o: WebhookObservation; want: string; detail?: string }[] = [
    { name: "not installed", o: { configuration: undefined }, want: "warn" },
    {
      name: "url, trusted, current CA",
      o: {
        configuration: config({ url, caBundle: bundle(current.certPem) }),
        probe: { ok: true },
        currentCaPem: current.certPem,
      },
      want: "ok",
    },
    {
      name: "url, trusted, CA secret unreadable",
      o: { configuration: config({ url, caBundle: bundle(current.certPem) }), probe: { ok: true } },
      want: "ok",
    },
    {
      name: "stale caBundle",
      o: {
        configuration: config({ url, caBundle: bundle(old.certPem) }),
        probe: { ok: true },
        currentCaPem: current.certPem,
      },
      want: "fail",
      detail: "pods start without credentials",
    },
    {
      name: "bundle with old and current CA",
      o: {
        configuration: config({ url, caBundle: bundle(old.certPem + current.certPem) }),
        probe: { ok: true },
        currentCaPem: current.certPem + old.certPem,
      },
      want: "ok",
    },
    {
      name: "untrusted certificate",
      o: {
        configuration: config({ url, caBundle: bundle(current.certPem) }),
        probe: { ok: false, untrusted: true, error: "UnknownIssuer" },
      },
      want: "fail",
      detail: "does not verify",
    },
    {
      name: "unreachable",
      o: {
        configuration: config({ url, caBundle: bundle(current.certPem) }),
        probe: { ok: false, untrusted: false, error: "connection refused" },
      },
      want: "fail",
      detail: "unreachable",
    },
    {
      name: "service with ready endpoints and no dry run (no role ARN) cannot be probed from outside",
      o: {
        configuration: config({ service, caBundle: bundle(current.certPem) }),
        service: { exists: true, readyAddresses: 2 },
      },
      want: "warn",
    },
    {
      name: "service missing",
      o: {
        configuration: config({ service, caBundle: bundle(current.certPem) }),
        service: { exists: false, readyAddresses: 0 },
      },
      want: "fail",
    },
    {
      name: "service without endpoints",
      o: {
        configuration: config({ service, caBundle: bundle(current.certPem) }),
        service: { exists: true, readyAddresses: 0 },
      },
      want: "fail",
    },
    {
      name: "service without caBundle",
      o: { configuration: config({ service }), service: { exists: true, readyAddresses: 1 } },
      want: "fail",
    },
    { name: "no webhooks", o: { configuration: { metadata: { name: "kubectl-irsa" }, webhooks: [] } }, want: "fail" },
    {
      name: "namespace outside the namespaceSelector (install's default skips kube-system)",
      o: {
        configuration: selecting(config({ url, caBundle: bundle(current.certPem) })),
        probe: { ok: true },
        namespace: { name: "kube-system", labels: { "kubernetes.io/metadata.name": "kube-system" } },
      },
      want: "fail",
      detail: "namespace kube-system is outside the namespaceSelector",
    },
    {
      name: "namespace inside the namespaceSelector",
      o: {
        configuration: selecting(config({ url, caBundle: bundle(current.certPem) })),
        probe: { ok: true },
        namespace: { name: "apps", labels: { "kubernetes.io/metadata.name": "apps" } },
      },
      want: "ok",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const r = checkWebhook(c.o);
      equal(verdict(r), c.want, r.detail);
      if (c.detail) ok(r.detail.includes(c.detail), r.detail);
    });
  }
});

/** The probe pod as the apiserver returns it from a dry run: named, with its API token, mutated by `annotations`. */
function admittedProbe(annotations: Record<string, string> | undefined): ListedPod {
  const created = probePod(ref);
  const named: ListedPod = {
    ...created,
    metadata: {
      generateName: "kubectl-irsa-doctor-probe-",
      name: "kubectl-irsa-doctor-probe-x7k2q",
      namespace: "demo",
      uid: "u1",
    },
    spec: { ...created.spec, volumes: [{ name: "kube-api-access-abcde", projected: { sources: [] } }] },
  };
  if (annotations === undefined) return named;
  const identity = identityFromAnnotations(annotations, defaultWebhookConfig);
  return applyJsonPatch(named, mutatePod(named, identity, defaultWebhookConfig));
}

Deno.test("probePod() is a restricted-level pod of the ServiceAccount that nothing pulls", () => {
  const p = probePod(ref);
  equal(p.metadata?.namespace, "demo");
  equal(p.metadata?.generateName, "kubectl-irsa-doctor-probe-");
  equal(p.spec.serviceAccountName, "app");
  equal(p.spec.containers.length, 1);
  ok(String(p.spec.containers[0]!.image).endsWith(".invalid/probe"));
  deepStrictEqual(p.spec.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65534,
    seccompProfile: { type: "RuntimeDefault" },
  });
  deepStrictEqual(p.spec.containers[0]!.securityContext, {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
  });
});

Deno.test("checkWebhook() proves a webhook behind a Service with a dry-run pod", async (t) => {
  const ca = await createRootCa("current");
  const service = { namespace: "irsa-manager-system", name: "kubectl-irsa" };
  const annotations = { "eks.amazonaws.com/role-arn": roleArn };
  const config = (failurePolicy: "Ignore" | "Fail"): WebhookConfiguration => ({
    metadata: { name: "kubectl-irsa" },
    webhooks: [{
      name: "pod-identity.kubectl-irsa.io",
      failurePolicy,
      clientConfig: { service, caBundle: btoa(ca.certPem) },
    }],
  });
  const observe = (
    outcome: DryRunPodOutcome,
    over: { failurePolicy?: "Ignore" | "Fail"; readyAddresses?: number; service?: false } = {},
  ): WebhookObservation => ({
    configuration: config(over.failurePolicy ?? "Ignore"),
    ...(over.service === false ? {} : { service: { exists: true, readyAddresses: over.readyAddresses ?? 2 } }),
    currentCaPem: ca.certPem,
    dryRun: { serviceAccount: ref, annotations, outcome },
  });
  const callFailed = 'Internal error occurred: failed calling webhook "pod-identity.kubectl-irsa.io": failed to ' +
    'call webhook: Post "https://kubectl-irsa.irsa-manager-system.svc:443/mutate?timeout=10s": tls: failed to ' +
    "verify certificate: x509: certificate signed by unknown authority";
  const rbac = 'pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "demo"';
  const cases: { name: string; o: WebhookObservation; want: string; detail: string; fix?: string }[] = [
    {
      name: "mutated: the apiserver called the webhook",
      o: observe({ admitted: true, pod: admittedProbe(annotations) }),
      want: "ok",
      detail: "Service irsa-manager-system/kubectl-irsa has 2 ready endpoints; the apiserver called " +
        `pod-identity.kubectl-irsa.io and a dry-run pod of demo/app got AWS_ROLE_ARN ${roleArn}, ` +
        "AWS_WEB_IDENTITY_TOKEN_FILE and the projected token",
    },
    {
      name: "mutated while the Service is unreadable: the dry run is proof enough",
      o: observe({ admitted: true, pod: admittedProbe(annotations) }, { service: false }),
      want: "ok",
      detail: "Service irsa-manager-system/kubectl-irsa could not be read; the apiserver called",
    },
    {
      name: "unmutated with ready endpoints (failurePolicy Ignore swallowed a failed call)",
      o: observe({ admitted: true, pod: admittedProbe(undefined) }),
      want: "fail",
      detail: "the apiserver admitted a dry-run pod of demo/app without credentials (Service " +
        "irsa-manager-system/kubectl-irsa has 2 ready endpoints)",
      fix: "with failurePolicy Ignore a failed webhook call admits pods unmutated",
    },
    {
      name: "unmutated with failurePolicy Fail: the webhook answered without a patch",
      o: observe({ admitted: true, pod: admittedProbe(undefined) }, { failurePolicy: "Fail" }),
      want: "fail",
      detail: "without credentials",
      fix: "the webhook answered without a patch",
    },
    {
      name: "mutated with another role ARN",
      o: observe({
        admitted: true,
        pod: admittedProbe({ "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/old" }),
      }),
      want: "fail",
      detail: `got AWS_ROLE_ARN arn:aws:iam::123456789012:role/old, not ${roleArn}`,
    },
    {
      name: "refused by failurePolicy Fail: the apiserver's message, on one line",
      o: observe({ admitted: false, status: 500, message: callFailed.replace("failed to call", "failed to\ncall") }, {
        failurePolicy: "Fail",
      }),
      want: "fail",
      detail: `the apiserver refused a dry-run pod of demo/app: ${callFailed}`,
    },
    {
      name: "forbidden to create pods: unproven, and says which permission is missing",
      o: observe({ admitted: false, status: 403, message: rbac }),
      want: "warn",
      detail: "Service irsa-manager-system/kubectl-irsa has 2 ready endpoints, but the link is unproven: the doctor " +
        "may not create pods in demo, not even as a dry run",
      fix: "'create' verb on pods in demo",
    },
    {
      name: "refused by Pod Security, not by RBAC: unproven, with the apiserver's message",
      o: observe({
        admitted: false,
        status: 403,
        message: 'pods "kubectl-irsa-doctor-probe-x" is forbidden: violates PodSecurity "restricted:latest"',
      }),
      want: "warn",
      detail: "was refused before its mutation could be seen: pods",
    },
    {
      name: "forbidden to create pods and no ready endpoints: still a failure",
      o: observe({ admitted: false, status: 403, message: rbac }, { readyAddresses: 0 }),
      want: "fail",
      detail: "Service irsa-manager-system/kubectl-irsa has no ready endpoints; pods start without credentials",
    },
    {
      name: "no ready endpoints, and the dry-run pod shows the consequence",
      o: observe({ admitted: true, pod: admittedProbe(undefined) }, { readyAddresses: 0 }),
      want: "fail",
      detail: "Service irsa-manager-system/kubectl-irsa has no ready endpoints; the apiserver admitted a dry-run pod " +
        "of demo/app without credentials",
    },
    {
      name: "no ready endpoints with failurePolicy Fail: the refusal is the consequence",
      o: observe({ admitted: false, status: 500, message: callFailed }, { readyAddresses: 0, failurePolicy: "Fail" }),
      want: "fail",
      detail: `has no ready endpoints; the apiserver refused a dry-run pod of demo/app: ${callFailed}`,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const r = checkWebhook(c.o);
      equal(verdict(r), c.want, r.detail);
      ok(r.detail.includes(c.detail), r.detail);
      if (c.fix) ok(r.fix?.includes(c.fix), r.fix);
    });
  }
});

Deno.test("doctorOk() fails on a failed check but not on warnings", () => {
  const r = (ok: boolean, warning?: boolean): CheckResult => ({
    id: "x",
    title: "x",
    ok,
    detail: "",
    ...(warning ? { warning } : {}),
  });
  equal(doctorOk([r(true), r(false, true)]), true);
  equal(doctorOk([r(true), r(false)]), false);
  equal(doctorOk([]), true);
});

const roleKey = "eks.amazonaws.com/role-arn";

/** Fake ports for a healthy cluster; `over` breaks what a test needs. */
async function fakePorts(
  over: {
    setup?: string | undefined;
    jwksStatus?: number;
    withSa?: boolean;
    annotations?: Record<string, string>;
    webhook?: WebhookConfiguration;
    role?: ObservedRole | undefined;
  } = {},
) {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" }] };
  const mint = (aud: string) =>
    new SignJWT({ sub }).setProtectedHeader({ alg: "RS256", kid: "k1" }).setIssuer(issuer).setAudience(aud)
      .setIssuedAt().setExpirationTime("10m").sign(privateKey);
  const calls: string[] = [];
  const ports: DoctorPorts = {
    kube: {
      setupRecord: () => Promise.resolve("setup" in over ? over.setup : serializeSetupRecord(setup)),
      apiserverIssuer: () => Promise.resolve(issuer),
      serviceAccount: () => Promise.resolve(over.annotations ?? { "eks.amazonaws.com/role-arn": roleArn }),
      anyServiceAccount: () => Promise.resolve(ref),
      mintToken: (_sa, aud) => mint(aud),
      reviewToken: () => Promise.resolve({ authenticated: false }),
      podsOf: () => Promise.resolve([pod("p", true)]),
      webhookConfiguration: () => Promise.resolve(over.webhook),
      namespaceLabels: () => Promise.resolve({}),
      serviceEndpoints: () => Promise.resolve({ exists: true, readyAddresses: 1 }),
      webhookCa: () => Promise.resolve(undefined),
      dryRunCreatePod: (namespace, p) => {
        calls.push(`dry-run ${namespace} ${p.spec.serviceAccountName}`);
        return Promise.resolve({ admitted: true, pod: admittedProbe(over.annotations ?? { [roleKey]: roleArn }) });
      },
    },
    aws: () =>
      Promise.resolve({
        iam: {
          getOidcProvider: () => Promise.resolve(provider()),
          getRole: () => {
            calls.push("getRole");
            return Promise.resolve("role" in over ? over.role : role());
          },
        },
        sts: {
          assumeRoleWithWebIdentity: () => {
            calls.push("sts");
            return Promise.reject(new Error("InvalidIdentityToken: Incorrect token audience"));
          },
        },
      }),
    probeWebhook: () => Promise.resolve({ ok: true }),
  };
  const fetcher = (url: string) => {
    if (url.endsWith("openid-configuration")) {
      return Promise.resolve(new Response(JSON.stringify({ issuer, jwks_uri: `${issuer}/keys.json` })));
    }
    return Promise.resolve(new Response(JSON.stringify(jwks), { status: over.jwksStatus ?? 200 }));
  };
  return { ports, fetcher, calls };
}

Deno.test("runDoctor() runs the checks in chain order and only the broken link fails", async (t) => {
  await t.step("a healthy cluster without a ServiceAccount", async () => {
    const { ports, fetcher } = await fakePorts();
    const checks = await runDoctor(ports, { sts: false, fetcher });
    deepStrictEqual(checks.map((c) => `${c.id}:${verdict(c)}`), [
      "setup:ok",
      "discovery:ok",
      "issuer:ok",
      "jwks:ok",
      "kid:ok",
      "provider:ok",
      "client-id:ok",
      "thumbprint:ok",
      "api-audiences:ok",
    ]);
  });
  await t.step("with a ServiceAccount and --sts, a refused exchange is decoded", async () => {
    const { ports, fetcher, calls } = await fakePorts();
    const checks = await runDoctor(ports, { serviceAccount: ref, sts: true, fetcher });
    deepStrictEqual(checks.slice(9).map((c) => `${c.id}:${verdict(c)}`), [
      "annotation:ok",
      "role:ok",
      "trust:ok",
      "policies:ok",
      "pods:ok",
      "webhook:warn",
      "sts:fail",
    ]);
    deepStrictEqual(calls, ["getRole", "sts"]);
    ok(checks.at(-1)!.detail.includes("client-id"));
  });
  const behindService: WebhookConfiguration = {
    metadata: { name: "kubectl-irsa" },
    webhooks: [{
      name: "pod-identity.kubectl-irsa.io",
      failurePolicy: "Ignore",
      clientConfig: { service: { namespace: "irsa-manager-system", name: "kubectl-irsa" }, caBundle: btoa("ca") },
    }],
  };
  await t.step("a webhook behind a Service is proven with a dry-run pod of the ServiceAccount", async () => {
    const { ports, fetcher, calls } = await fakePorts({ webhook: behindService });
    const checks = await runDoctor(ports, { serviceAccount: ref, sts: false, fetcher });
    const webhook = checks.find((c) => c.id === "webhook")!;
    equal(verdict(webhook), "ok", webhook.detail);
    deepStrictEqual(calls, ["getRole", "dry-run demo app"]);
  });
  await t.step("without a role ARN there is nothing to expect, so no dry run", async () => {
    const { ports, fetcher, calls } = await fakePorts({ webhook: behindService, annotations: {} });
    const checks = await runDoctor(ports, { serviceAccount: ref, sts: false, fetcher });
    equal(verdict(checks.find((c) => c.id === "webhook")!), "warn");
    deepStrictEqual(calls, []);
  });
  await t.step("without a ServiceAccount there is no dry run", async () => {
    const { ports, fetcher, calls } = await fakePorts({ webhook: behindService });
    await runDoctor(ports, { sts: false, fetcher });
    deepStrictEqual(calls, []);
  });
  await t.step("without a setup record every later check is skipped, not failed", async () => {
    const { ports, fetcher } = await fakePorts({ setup: undefined });
    const checks = await runDoctor(ports, { serviceAccount: ref, sts: true, fetcher });
    equal(checks.length, 16);
    deepStrictEqual(checks.filter((c) => verdict(c) === "fail").map((c) => c.id), ["setup"]);
  });
  const governed = serializeSetupRecord({ ...setup, bindingPolicy: { permissionsBoundary: boundaryArn } });
  await t.step("without a binding policy there is no boundary check", async () => {
    const { ports, fetcher } = await fakePorts({ role: role({ tags: ours }) });
    const checks = await runDoctor(ports, { serviceAccount: ref, sts: false, fetcher });
    equal(checks.some((c) => c.id === "boundary"), false);
  });
  await t.step("a role without the policy's boundary fails the boundary check after policies", async () => {
    const { ports, fetcher, calls } = await fakePorts({ setup: governed, role: role({ tags: ours }) });
    const checks = await runDoctor(ports, { serviceAccount: ref, sts: false, fetcher });
    deepStrictEqual(checks.slice(9).map((c) => `${c.id}:${verdict(c)}`), [
      "annotation:ok",
      "role:ok",
      "trust:ok",
      "policies:ok",
      "boundary:fail",
      "pods:ok",
      "webhook:warn",
    ]);
    ok(checks.find((c) => c.id === "boundary")!.detail.includes("has no permissions boundary"));
    deepStrictEqual(calls, ["getRole"], "only reads");
  });
  await t.step("a role with the policy's boundary passes it", async () => {
    const { ports, fetcher } = await fakePorts({
      setup: governed,
      role: role({ tags: ours, permissionsBoundaryArn: boundaryArn }),
    });
    const checks = await runDoctor(ports, { serviceAccount: ref, sts: false, fetcher });
    equal(verdict(checks.find((c) => c.id === "boundary")!), "ok");
    equal(doctorOk(checks), true);
  });
  await t.step("with a binding policy but no role, the boundary check is skipped", async () => {
    const { ports, fetcher } = await fakePorts({ setup: governed, role: undefined });
    const checks = await runDoctor(ports, { serviceAccount: ref, sts: false, fetcher });
    deepStrictEqual(checks.filter((c) => verdict(c) !== "ok").map((c) => `${c.id}:${verdict(c)}`), [
      "role:fail",
      "trust:warn",
      "policies:warn",
      "boundary:warn",
      "webhook:warn",
    ]);
  });
  await t.step("a missing JWKS fails jwks and skips kid", async () => {
    const { ports, fetcher } = await fakePorts({ jwksStatus: 404 });
    const checks = await runDoctor(ports, { sts: false, fetcher });
    deepStrictEqual(checks.filter((c) => verdict(c) !== "ok").map((c) => `${c.id}:${verdict(c)}`), [
      "jwks:fail",
      "kid:warn",
    ]);
  });
});
