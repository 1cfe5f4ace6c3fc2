// Fakes for reconcile tests: an in-process API server that the real KubeClient talks HTTP to (JSON patch with
// `test`, merge patch of status, server-side apply of annotations with managedFields, deletion held by
// finalizers), and AWS clients whose IAM and S3 keep state in memory. Both record every call and can be told to
// fail one, so a test states a failure and asserts what the reconciler did about it.
import type { AwsClients } from "../../lib/aws/clients.ts";
import { KubeClient } from "../../lib/kube/client.ts";
import type { Logger } from "../log.ts";

/** A write the fake API server received. */
export interface KubeWrite {
  method: string;
  path: string;
  contentType: string;
  body: unknown;
}

type Json = Record<string, unknown>;

/** Plurals the fake lists; any other GET is of one object. */
const collections = new Set(["irsas", "irsasetups", "serviceaccounts", "configmaps", "events", "namespaces"]);

function status(code: number, message: string): Response {
  const reason = { 404: "NotFound", 409: "Conflict", 422: "Invalid", 500: "InternalError" }[code] ?? "Unknown";
  return Response.json({ kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code }, {
    status: code,
  });
}

function pointer(path: string): string[] {
  return path.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** RFC 6902 add/remove/test on a copy; throws a message on a failed test or a bad path. */
function jsonPatch(doc: Json, ops: { op: string; path: string; value?: unknown }[]): Json {
  const out = structuredClone(doc);
  for (const op of ops) {
    const parts = pointer(op.path);
    const last = parts.pop()!;
    let parent: unknown = out;
    for (const p of parts) {
      parent = (parent as Record<string, unknown> | undefined)?.[p];
      if (parent === undefined) throw new Error(`doc is missing path: ${op.path}`);
    }
    const container = parent as Record<string, unknown>;
    if (op.op === "test") {
      if (JSON.stringify(container[last]) !== JSON.stringify(op.value)) {
        throw new Error(`testing value ${op.path} failed: test failed`);
      }
    } else if (op.op === "add") {
      if (Array.isArray(container)) {
        if (last === "-") container.push(op.value);
        else container.splice(Number(last), 0, op.value);
      } else container[last] = op.value;
    } else if (op.op === "remove") {
      if (!(last in container)) throw new Error(`unable to remove nonexistent key: ${op.path}`);
      if (Array.isArray(container)) container.splice(Number(last), 1);
      else delete container[last];
    } else throw new Error(`unsupported op ${op.op}`);
  }
  return out;
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Json = typeof target === "object" && target !== null && !Array.isArray(target)
    ? { ...(target as Json) }
    : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** The fake API server. `objects` maps a path to the object; `fail` may answer a request instead. */
export function fakeApiServer(initial: Record<string, unknown> = {}) {
  const objects = new Map<string, Json>(Object.entries(initial).map(([k, v]) => [k, structuredClone(v as Json)]));
  const writes: KubeWrite[] = [];
  const reads: string[] = [];
  let rv = 100;
  const state = {
    objects,
    writes,
    reads,
    /** Answers a request instead of the fake (an injected failure); undefined lets it through. */
    fail: (_method: string, _path: string): Response | undefined => undefined,
  };
  const bump = (o: Json) => {
    const meta = (o.metadata ??= {}) as Json;
    meta.resourceVersion = String(++rv);
  };
  for (const o of objects.values()) if (!(o.metadata as Json | undefined)?.resourceVersion) bump(o);
  const finishDeletion = (path: string, o: Json) => {
    const meta = o.metadata as Json;
    if (meta.deletionTimestamp && ((meta.finalizers as string[] | undefined) ?? []).length === 0) objects.delete(path);
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const path = url.pathname;
    const injected = state.fail(req.method, path);
    if (injected) return injected;
    if (req.method === "GET") {
      reads.push(path);
      const o = objects.get(path);
      if (o) return Response.json(o);
      const plural = path.split("/").pop()!;
      if (!collections.has(plural)) return status(404, `${path} not found`);
      const allNamespaces = new RegExp(
        `^${path.replace(/\/[^/]+$/, "")}/namespaces/[^/]+/${plural}/[^/]+$`.replace(/\./g, "\\."),
      );
      const items = [...objects].filter(([k]) =>
        (k.startsWith(`${path}/`) && !k.slice(path.length + 1).includes("/")) || allNamespaces.test(k)
      ).map(([, v]) => v);
      return Response.json({ items, metadata: {} });
    }
    const contentType = req.headers.get("content-type") ?? "";
    const text = await req.text();
    const body = text ? JSON.parse(text) : undefined;
    writes.push({ method: req.method, path, contentType, body });
    if (req.method === "POST") {
      const meta = (body.metadata ?? {}) as Json;
      const name = (meta.name as string | undefined) ?? `${meta.generateName ?? "x-"}${rv}`;
      const created = { ...body, metadata: { ...meta, name, uid: `uid-${rv}` } };
      bump(created);
      objects.set(`${path}/${name}`, created);
      return Response.json(created, { status: 201 });
    }
    if (req.method === "DELETE") {
      const o = objects.get(path);
      if (!o) return status(404, `${path} not found`);
      const meta = o.metadata as Json;
      if (((meta.finalizers as string[] | undefined) ?? []).length > 0) {
        meta.deletionTimestamp ??= "2026-01-01T00:00:00Z";
        bump(o);
      } else objects.delete(path);
      return Response.json({ kind: "Status", status: "Success" });
    }
    // PATCH
    const subresource = path.endsWith("/status") ? "status" : undefined;
    const objectPath = subresource ? path.slice(0, -"/status".length) : path;
    const current = objects.get(objectPath);
    if (contentType.startsWith("application/apply-patch")) {
      const manager = url.searchParams.get("fieldManager") ?? "";
      const next = structuredClone(current ?? { ...body, metadata: { ...body.metadata, uid: `uid-${rv}` } });
      const meta = next.metadata as Json;
      const managed = ((meta.managedFields as Json[] | undefined) ?? []).filter((m) => m.manager !== manager);
      const before = (current?.metadata as Json | undefined)?.managedFields as Json[] | undefined;
      const previouslyOwned = Object.keys(
        ((before?.find((m) => m.manager === manager)?.fieldsV1 as Json | undefined)?.["f:metadata"] as
          | Json
          | undefined)?.["f:annotations"] as Json ?? {},
      ).map((k) => k.slice(2));
      const applied = (body.metadata?.annotations ?? {}) as Record<string, string>;
      const annotations = { ...(meta.annotations as Record<string, string> | undefined) };
      for (const k of previouslyOwned) if (!(k in applied)) delete annotations[k];
      Object.assign(annotations, applied);
      if (Object.keys(annotations).length > 0) meta.annotations = annotations;
      else delete meta.annotations;
      if (body.data) next.data = body.data;
      meta.managedFields = [...managed, {
        manager,
        operation: "Apply",
        fieldsV1: {
          "f:metadata": { "f:annotations": Object.fromEntries(Object.keys(applied).map((k) => [`f:${k}`, {}])) },
        },
      }];
      bump(next);
      objects.set(objectPath, next);
      return Response.json(next);
    }
    if (!current) return status(404, `${objectPath} not found`);
    let next: Json;
    if (contentType.startsWith("application/json-patch")) {
      try {
        next = jsonPatch(current, body);
      } catch (e) {
        // What kube-apiserver answers for a JSON patch that does not apply (handlers/patch.go).
        return status(422, (e as Error).message);
      }
    } else if (subresource) {
      next = { ...current, status: mergePatch(current.status, body.status) };
    } else next = mergePatch(current, body) as Json;
    bump(next);
    objects.set(objectPath, next);
    finishDeletion(objectPath, next);
    return Response.json(next);
  });

  const kube = new KubeClient({
    server: `http://127.0.0.1:${server.addr.port}`,
    namespace: "default",
    contextName: "t",
  });
  return Object.assign(state, {
    kube,
    /** The object at `path` now. */
    object<T = Json>(path: string): T | undefined {
      return objects.get(path) as T | undefined;
    },
    async close() {
      kube.close();
      await server.shutdown();
    },
  });
}

/** A fake AWS service error as the SDK v3 throws it. */
export function awsErrorOf(code: string, httpStatus: number, className = code): Error {
  return Object.assign(new Error(`${code} (fake)`), {
    name: className,
    Code: code,
    $metadata: { httpStatusCode: httpStatus },
  });
}

/** An IAM role the fake holds. */
export interface FakeRole {
  name: string;
  path: string;
  trustPolicy: string;
  tags: Record<string, string>;
  attached: string[];
  inline: Record<string, string>;
}

/** A fake IAM (roles, OIDC providers, policies) and S3 (buckets with tags), recording every call by name. */
export function fakeAws(options: { account?: string; region?: string } = {}) {
  const account = options.account ?? "123456789012";
  const region = options.region ?? "eu-west-1";
  const roles = new Map<string, FakeRole>();
  const providers = new Map<string, { url: string; tags: Record<string, string> }>();
  const buckets = new Map<string, { region: string; tags: Record<string, string>; objects: Set<string> }>();
  const missingPolicies = new Set<string>();
  const calls: { name: string; input: Json }[] = [];
  const state = {
    roles,
    providers,
    buckets,
    missingPolicies,
    calls,
    /** Throws instead of the fake for one call (an injected failure); undefined lets it through. */
    fail: (_name: string, _input: Json): Error | undefined => undefined,
  };
  const noRole = () => awsErrorOf("NoSuchEntity", 404, "NoSuchEntityException");
  const tagList = (tags: Record<string, string>) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  const tagRecord = (tags: { Key: string; Value: string }[] | undefined) =>
    Object.fromEntries((tags ?? []).map((t) => [t.Key, t.Value]));
  const role = (input: Json) => {
    const r = roles.get(input.RoleName as string);
    if (!r) throw noRole();
    return r;
  };

  const iam = (input: Json, name: string): unknown => {
    switch (name) {
      case "GetRole": {
        const r = role(input);
        return {
          Role: {
            Arn: `arn:aws:iam::${account}:role${r.path}${r.name}`,
            RoleName: r.name,
            Path: r.path,
            AssumeRolePolicyDocument: encodeURIComponent(r.trustPolicy),
            Tags: tagList(r.tags),
            MaxSessionDuration: "3600",
          },
        };
      }
      case "ListAttachedRolePolicies":
        return { AttachedPolicies: role(input).attached.map((PolicyArn) => ({ PolicyArn })), IsTruncated: "false" };
      case "ListRolePolicies":
        return { PolicyNames: Object.keys(role(input).inline) };
      case "GetRolePolicy":
        return { PolicyDocument: encodeURIComponent(role(input).inline[input.PolicyName as string] ?? "") };
      case "GetPolicy":
        if (missingPolicies.has(input.PolicyArn as string)) throw noRole();
        return { Policy: { Arn: input.PolicyArn } };
      case "CreateRole": {
        const n = input.RoleName as string;
        if (roles.has(n)) throw awsErrorOf("EntityAlreadyExists", 409, "EntityAlreadyExistsException");
        roles.set(n, {
          name: n,
          path: (input.Path as string | undefined) ?? "/",
          trustPolicy: input.AssumeRolePolicyDocument as string,
          tags: tagRecord(input.Tags as never),
          attached: [],
          inline: {},
        });
        return { Role: { Arn: `arn:aws:iam::${account}:role${input.Path ?? "/"}${n}` } };
      }
      case "UpdateAssumeRolePolicy":
        role(input).trustPolicy = input.PolicyDocument as string;
        return {};
      case "TagRole":
        Object.assign(role(input).tags, tagRecord(input.Tags as never));
        return {};
      case "AttachRolePolicy": {
        const r = role(input);
        if (!r.attached.includes(input.PolicyArn as string)) r.attached.push(input.PolicyArn as string);
        return {};
      }
      case "DetachRolePolicy": {
        const r = role(input);
        r.attached = r.attached.filter((a) => a !== input.PolicyArn);
        return {};
      }
      case "PutRolePolicy":
        role(input).inline[input.PolicyName as string] = input.PolicyDocument as string;
        return {};
      case "DeleteRolePolicy":
        delete role(input).inline[input.PolicyName as string];
        return {};
      case "DeleteRole": {
        const r = role(input);
        if (r.attached.length > 0 || Object.keys(r.inline).length > 0) {
          throw awsErrorOf("DeleteConflict", 409, "DeleteConflictException");
        }
        roles.delete(r.name);
        return {};
      }
      case "UpdateRole":
      case "PutRolePermissionsBoundary":
        role(input);
        return {};
      case "GetOpenIDConnectProvider": {
        const p = providers.get(input.OpenIDConnectProviderArn as string);
        if (!p) throw noRole();
        return { Url: p.url, ClientIDList: ["sts.amazonaws.com"], ThumbprintList: [], Tags: tagList(p.tags) };
      }
      case "DeleteOpenIDConnectProvider":
        providers.delete(input.OpenIDConnectProviderArn as string);
        return {};
    }
    throw new Error(`fake IAM does not implement ${name}`);
  };

  // Answers as S3's REST API does (s3_client.ts): XML text, the bucket and key in the request.
  const s3 = (input: Json, name: string): unknown => {
    const b = buckets.get(input.bucket as string);
    const missing = () => awsErrorOf("NoSuchBucket", 404);
    const xml = (text: string) => ({ status: 200, text });
    switch (name) {
      case "HeadBucket":
        if (!b) throw Object.assign(new Error("NotFound"), { name: "NotFound", $metadata: { httpStatusCode: 404 } });
        return xml("");
      case "GetBucketLocation":
        if (!b) throw missing();
        return xml(`<LocationConstraint>${b.region === "us-east-1" ? "" : b.region}</LocationConstraint>`);
      case "GetBucketTagging":
        if (!b) throw missing();
        return xml(
          `<Tagging><TagSet>${
            Object.entries(b.tags).map(([k, v]) => `<Tag><Key>${k}</Key><Value>${v}</Value></Tag>`).join("")
          }</TagSet></Tagging>`,
        );
      case "GetPublicAccessBlock":
        throw awsErrorOf("NoSuchPublicAccessBlockConfiguration", 404);
      case "GetBucketPolicy":
        throw awsErrorOf("NoSuchBucketPolicy", 404);
      case "DeleteObject":
        b?.objects.delete(input.key as string);
        return xml("");
      case "DeleteBucket":
        if (!b) throw missing();
        if (b.objects.size > 0) throw awsErrorOf("BucketNotEmpty", 409);
        buckets.delete(input.bucket as string);
        return xml("");
    }
    throw new Error(`fake S3 does not implement ${name}`);
  };

  const answer = (service: (input: Json, name: string) => unknown, name: string, input: Json) => {
    calls.push({ name, input });
    try {
      const injected = state.fail(name, input);
      if (injected) throw injected;
      return Promise.resolve(structuredClone(service(input, name)));
    } catch (e) {
      return Promise.reject(e);
    }
  };
  // Our S3 client's interface and the query client's (IAM), each answered in its own shapes.
  const client = (service: (input: Json, name: string) => unknown) => ({
    send: (name: string, request: Json) => answer(service, name, request),
  });
  const queryClient = (service: (input: Json, name: string) => unknown) => ({
    call: (name: string, input: Json = {}) => answer(service, name, input),
  });
  const s3Client = client(s3);
  const clients = {
    region,
    config: { region },
    iam: queryClient(iam),
    s3: s3Client,
    s3For: () => Promise.resolve(s3Client),
    destroy() {},
  } as unknown as AwsClients;
  return Object.assign(state, {
    clients,
    /** The names of the calls other than reads. */
    writes(): string[] {
      return calls.map((c) => c.name).filter((n) => !/^(Get|List|Head)/.test(n));
    },
  });
}

/** A logger that keeps the lines, for assertions on warnings. */
export function memoryLogger(): Logger & { lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (msg: string) => void lines.push({ level, msg });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
