// Answers an AdmissionReview (admission.k8s.io/v1) for a pod: looks up its ServiceAccount and returns the
// JSON Patch that lib/pod_mutation.ts decides. Malformed reviews get a 400 with a message, never a crash; a
// ServiceAccount that cannot be read gets a 500, so the webhook's failure policy decides, not this code.
import { Buffer } from "node:buffer";
import {
  applyJsonPatch,
  identityFromAnnotations,
  type JsonPatchOp,
  mutatePod,
  type Pod,
  type WebhookConfig,
} from "../lib/pod_mutation.ts";
import { tokenMount } from "../lib/names.ts";

/** The outcome of one review. */
export interface AdmissionOutcome {
  status: number;
  body: unknown;
  result: "mutated" | "unchanged" | "error";
  patch: JsonPatchOp[];
  /** Why the review failed (status 500), for the log. */
  error?: unknown;
}

/**
 * Looks up a ServiceAccount's annotations; undefined only when it does not exist (404). Any other failure throws:
 * admitting the pod unmutated would bypass failurePolicy Fail.
 */
export type ServiceAccountLookup = (namespace: string, name: string) => Promise<Record<string, string> | undefined>;

function badRequest(message: string): AdmissionOutcome {
  return { status: 400, body: { error: message }, result: "error", patch: [] };
}

/** Reviews one request body (already parsed from JSON, or the parse failure). */
export async function reviewAdmission(
  review: unknown,
  deps: { lookup: ServiceAccountLookup; config: WebhookConfig },
): Promise<AdmissionOutcome> {
  const r = review as {
    apiVersion?: unknown;
    kind?: unknown;
    request?: { uid?: unknown; namespace?: string; kind?: { kind?: string }; object?: Pod };
  } | null;
  if (!r || typeof r !== "object") return badRequest("the body is not an AdmissionReview object");
  if (r.apiVersion !== "admission.k8s.io/v1" || r.kind !== "AdmissionReview") {
    return badRequest(`expected apiVersion admission.k8s.io/v1 kind AdmissionReview, got ${r.apiVersion} ${r.kind}`);
  }
  const request = r.request;
  if (!request || typeof request.uid !== "string") return badRequest("the AdmissionReview has no request.uid");
  const allow = (patch: JsonPatchOp[]): AdmissionOutcome => ({
    status: 200,
    body: {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid: request.uid,
        allowed: true,
        ...(patch.length > 0
          ? { patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(patch)).toString("base64") }
          : {}),
      },
    },
    result: patch.length > 0 ? "mutated" : "unchanged",
    patch,
  });
  const pod = request.object;
  if (request.kind?.kind !== "Pod" || !pod || typeof pod !== "object" || typeof pod.spec !== "object") {
    return allow([]);
  }
  const namespace = request.namespace || pod.metadata?.namespace;
  if (!namespace) return badRequest("the pod has no namespace");
  // Like upstream, a pod without a ServiceAccount name is left alone: the apiserver refuses a projected token
  // for it (the ServiceAccount admission plugin normally fills the name in before webhooks run).
  const serviceAccountName = pod.spec.serviceAccountName;
  if (!serviceAccountName) return allow([]);
  let annotations: Record<string, string> | undefined;
  try {
    annotations = await deps.lookup(namespace, serviceAccountName);
  } catch (error) {
    const message = `cannot read ServiceAccount ${namespace}/${serviceAccountName}: ${(error as Error).message}`;
    return { status: 500, body: { error: message }, result: "error", patch: [], error };
  }
  if (!annotations) return allow([]);
  const patch = mutatePod(pod, identityFromAnnotations(annotations, deps.config), deps.config);
  // Like upstream, the patch always rewrites whole container lists, so on reinvocation (the token volume is
  // already there) it may change nothing; only then is the comparison worth its cost.
  const reinvoked = pod.spec.volumes?.some((v) => v.name === tokenMount.volume) ?? false;
  const unchanged = reinvoked && JSON.stringify(applyJsonPatch(pod, patch)) === JSON.stringify(pod);
  return allow(unchanged ? [] : patch);
}
