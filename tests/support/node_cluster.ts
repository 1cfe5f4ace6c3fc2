// Helpers for the tests on the real node. Assertions read the world through the apiserver's REST API with the
// admin certificate (sandbox.adminFetch), through kubectl, or from the host (the container's /proc), never
// through the product's own clients.
import { parse as parseYaml } from "yaml";
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { findKubectl } from "./kubectl.ts";
import { deepStrictEqual } from "node:assert/strict";
import { runPlugin } from "./cli.ts";
import { hostSnapshot } from "./host_state.ts";
import { nodeNetwork } from "./node.ts";
import { holdNodeLock } from "./node_lock.ts";
import { nodeImages } from "./node_images.ts";
import { type Sandbox, withSandbox } from "./sandbox.ts";

const seedValidationDir = new URL("../../../shared/peers/irsa-manager/validation/", import.meta.url).pathname;

/** Polls `check` until it returns a value other than undefined/false; throws naming `what` on timeout. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${lastError ? `: ${lastError}` : ""}`);
}

/** GET through the admin client; undefined on 404. */
export async function getJson<T>(sandbox: Sandbox, path: string): Promise<T | undefined> {
  const r = await sandbox.adminFetch(path);
  if (r.status === 404) {
    await r.body?.cancel();
    return undefined;
  }
  if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status} ${await r.text()}`);
  return await r.json() as T;
}

/** Sends a JSON body through the admin client. */
export async function sendJson<T>(
  sandbox: Sandbox,
  method: string,
  path: string,
  body: unknown,
  contentType = "application/json",
): Promise<T> {
  const r = await sandbox.adminFetch(path, {
    method,
    headers: { "content-type": contentType },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${await r.text()}`);
  return await r.json() as T;
}

/** The pod fields the node tests read. */
export interface Pod {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string> };
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    containers: {
      name: string;
      env?: { name: string; value?: string }[];
      volumeMounts?: { name: string; mountPath: string }[];
    }[];
    volumes?: { name: string; projected?: { sources: Record<string, unknown>[] } }[];
  };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; containerID?: string; restartCount: number }[];
  };
}

/** Pods in `namespace` matching a label selector. */
export async function listPods(sandbox: Sandbox, namespace: string, selector: string): Promise<Pod[]> {
  const out = await getJson<{ items: Pod[] }>(
    sandbox,
    `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`,
  );
  return out?.items ?? [];
}

/** True when the pod's Ready condition is True. */
export function podReady(pod: Pod): boolean {
  return pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Runs the real kubectl against the sandbox; `stdin` is piped in. */
export async function kubectl(
  sandbox: Sandbox,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(await findKubectl(), {
    args,
    env: { KUBECONFIG: sandbox.kubeconfigPath },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** Like {@link kubectl}, throwing with stderr on a non-zero exit. */
export async function kubectlOk(sandbox: Sandbox, args: string[], stdin?: string): Promise<string> {
  const r = await kubectl(sandbox, args, stdin);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/**
 * AWS's host names that aws-sdk-go v1 (s3-echoer) dials for `region` and `bucket`: it ignores AWS_ENDPOINT_URL,
 * so the pod resolves them to the emulator's proxy (hostAliases) and trusts its CA (AWS_CA_BUNDLE).
 */
export function awsHostnames(region: string, bucket: string): string[] {
  return [
    "sts.amazonaws.com",
    `sts.${region}.amazonaws.com`,
    `s3.${region}.amazonaws.com`,
    `${bucket}.s3.${region}.amazonaws.com`,
  ];
}

/**
 * The seed's validation Job (irsa-manager/validation/job-amd.yaml.template) with TARGET_BUCKET filled, as
 * s3-echoer.sh creates it. What differs, because this machine has no internet and no DNS: the image is the
 * locally built s3-echoer instead of amazonlinux downloading it with curl, AWS's host names resolve to the
 * emulator's proxy (`ip`), its CA bundle comes from the ConfigMap `caConfigMap`, and IMDS is off. The ServiceAccount, the env
 * (AWS_DEFAULT_REGION, ENABLE_IRP) and the `echo … | /s3-echoer BUCKET` pipeline are the template's.
 */
export async function seedValidationJob(
  options: { bucket: string; image: string; ip: string; caConfigMap: string; name?: string; serviceAccount?: string },
): Promise<Record<string, unknown>> {
  const template = await Deno.readTextFile(`${seedValidationDir}job-amd.yaml.template`);
  const job = parseYaml(template.replaceAll("TARGET_BUCKET", options.bucket)) as {
    metadata: { name: string };
    spec: {
      backoffLimit?: number;
      template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } };
    };
  };
  if (options.name) job.metadata.name = options.name;
  job.spec.backoffLimit = 0;
  const pod = job.spec.template.spec;
  if (options.serviceAccount) pod.serviceAccountName = options.serviceAccount;
  const container = pod.containers[0]!;
  const command = container.command as string[];
  // "curl … && chmod +x /s3-echoer && echo … | /s3-echoer BUCKET" -> the part after the download.
  command[2] = command[2]!.slice(command[2]!.indexOf("echo "));
  container.image = options.image;
  container.imagePullPolicy = "IfNotPresent";
  const region = (container.env as { name: string; value: string }[])
    .find((e) => e.name === "AWS_DEFAULT_REGION")!.value;
  pointAtEmulator(pod, { region, bucket: options.bucket, ip: options.ip, caConfigMap: options.caConfigMap });
  return job as unknown as Record<string, unknown>;
}

/**
 * Makes the first container of `pod` reach the emulator's proxy at `ip` under AWS's names for `region` and
 * `bucket`, trusting the CA bundle in ConfigMap `caConfigMap`.
 */
export function pointAtEmulator(
  pod: Record<string, unknown> & { containers: Record<string, unknown>[] },
  options: { region: string; bucket: string; ip: string; caConfigMap: string },
): void {
  const container = pod.containers[0]!;
  container.env = [
    ...((container.env ?? []) as unknown[]),
    { name: "AWS_CA_BUNDLE", value: "/etc/aws-ca/ca.pem" },
    // There is no instance metadata service here, and the guard drops the packets instead of refusing them: without
    // this, a pod with no credentials waits out the SDK's IMDS timeouts before it fails.
    { name: "AWS_EC2_METADATA_DISABLED", value: "true" },
  ];
  container.volumeMounts = [{ name: "aws-ca", mountPath: "/etc/aws-ca", readOnly: true }];
  pod.volumes = [{ name: "aws-ca", configMap: { name: options.caConfigMap } }];
  pod.hostAliases = [{ ip: options.ip, hostnames: awsHostnames(options.region, options.bucket) }];
}

/** The region the seed's validation Job sets (AWS_DEFAULT_REGION). */
export async function seedValidationRegion(): Promise<string> {
  const template = await Deno.readTextFile(`${seedValidationDir}job-amd.yaml.template`);
  return template.match(/name: AWS_DEFAULT_REGION\s+value: "([^"]+)"/)![1]!;
}

/** Waits for a Job to succeed or fail; returns which, with the pod's log. */
export async function waitJob(
  sandbox: Sandbox,
  namespace: string,
  name: string,
  timeoutMs = 120_000,
): Promise<{ succeeded: boolean; log: string; pod: Pod }> {
  const result = await waitFor(`Job ${namespace}/${name} to finish`, async () => {
    const job = await getJson<{ status?: { succeeded?: number; failed?: number } }>(
      sandbox,
      `/apis/batch/v1/namespaces/${namespace}/jobs/${name}`,
    );
    if (job?.status?.succeeded) return true;
    if (job?.status?.failed) return "failed";
    return undefined;
  }, timeoutMs);
  const [pod] = await listPods(sandbox, namespace, `job-name=${name}`);
  if (!pod) throw new Error(`Job ${name} has no pod`);
  const log = await kubectl(sandbox, ["logs", "-n", namespace, pod.metadata.name]);
  return { succeeded: result === true, log: log.stdout + log.stderr, pod };
}

/** What the kernel says about a container's main process, read on the host (not from any manifest). */
export interface ProcessFacts {
  pid: number;
  uids: number[];
  gids: number[];
  /** Effective, permitted and bounding capability masks, hex. */
  capEff: string;
  capPrm: string;
  capBnd: string;
  noNewPrivs: boolean;
  /** 2 = seccomp filter mode (RuntimeDefault). */
  seccomp: number;
  /** Mount options of the container's root filesystem. */
  rootMountOptions: string[];
}

/** Reads {@link ProcessFacts} of a running container through containerd's task PID. */
export async function containerProcess(sandbox: Sandbox, containerId: string): Promise<ProcessFacts> {
  const id = containerId.replace(/^containerd:\/\//, "");
  const tasks = await sandbox.node!.ctr(["tasks", "ls"]);
  const line = tasks.split("\n").find((l) => l.startsWith(id));
  if (!line) throw new Error(`container ${id} has no running task:\n${tasks}`);
  const pid = Number(line.trim().split(/\s+/)[1]);
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(.*)$`, "m"))?.[1]?.trim() ?? "";
  const mountinfo = await Deno.readTextFile(`/proc/${pid}/mountinfo`);
  const root = mountinfo.split("\n").find((l) => l.split(" ")[4] === "/");
  return {
    pid,
    uids: field("Uid").split(/\s+/).map(Number),
    gids: field("Gid").split(/\s+/).map(Number),
    capEff: field("CapEff"),
    capPrm: field("CapPrm"),
    capBnd: field("CapBnd"),
    noNewPrivs: field("NoNewPrivs") === "1",
    seccomp: Number(field("Seccomp")),
    rootMountOptions: root?.split(" ")[5]?.split(",") ?? [],
  };
}

/** The label of the daemon's pods. */
export const daemonSelector = "app.kubernetes.io/name=kubectl-irsa";

/**
 * `kubectl irsa install` with the node's daemon image and the AWS endpoint `awsEndpoint` (trusting the harness
 * CA), then waits until both replicas are Ready; returns the pods and the seconds it took.
 */
export async function installDaemon(
  sandbox: Sandbox,
  awsEndpoint: string,
  extraArgs: string[] = [],
): Promise<{ pods: Pod[]; seconds: number }> {
  const started = performance.now();
  const run = await runPlugin([
    "install",
    "--image",
    nodeImages.daemon,
    "--aws-endpoint-url",
    awsEndpoint,
    "--aws-ca-bundle",
    sandbox.caPath,
    "--s3-path-style",
    ...extraArgs,
  ], { env: sandbox.env });
  if (run.code !== 0) throw new Error(`install exited ${run.code}: ${run.stderr}`);
  const pods = await waitFor("both daemon replicas Ready", async () => {
    const pods = await listPods(sandbox, "irsa-manager-system", daemonSelector);
    return pods.length === 2 && pods.every(podReady) ? pods : undefined;
  }, 120_000);
  return { pods, seconds: (performance.now() - started) / 1000 };
}

/** Prints a measured figure on stderr, for the closing notes. */
export function figure(name: string, seconds: number): void {
  console.error(`figure: ${name}: ${seconds.toFixed(1)} s`);
}

/**
 * Runs `body` on a sandbox with a real node, then, as a step of its own, asserts that the host is exactly as it was
 * before the node started.
 */
export async function withNodeSandbox(t: Deno.TestContext, body: (s: Sandbox) => Promise<void>): Promise<void> {
  // Under the machine's node lock, so another run's node is neither in the snapshot nor torn down by this one.
  const lock = await holdNodeLock();
  try {
    const before = await hostSnapshot(nodeNetwork.cgroupRoot);
    await withSandbox(body, { node: true, verbose: true });
    await t.step("after stop, the host is as it was before the node started", async () => {
      deepStrictEqual(await hostSnapshot(nodeNetwork.cgroupRoot), before);
    });
  } finally {
    lock.release();
  }
}

/** What `echoDeployment` saw. */
export interface EchoOutcome {
  /** The S3 object the pod wrote. */
  body: string;
  /** From `kubectl apply` to the object in S3. */
  seconds: number;
  pod: Pod;
  /** The pod's container env, as the webhook left it. */
  env: Record<string, string | undefined>;
  /** The projected AWS token as the kubelet wrote it, read on the node's disk. */
  token: string;
}

/**
 * Applies Deployment `echo` of ServiceAccount `app` in `namespace`: s3-echoer writes `message` to `bucket` (created
 * here) through the emulator, with the credentials the webhook and the kubelet give the pod.
 */
export async function echoDeployment(
  sandbox: Sandbox,
  s3: S3Client,
  o: { namespace: string; bucket: string; region: string; message: string },
): Promise<EchoOutcome> {
  await s3.send(
    new CreateBucketCommand({
      Bucket: o.bucket,
      CreateBucketConfiguration: { LocationConstraint: o.region as BucketLocationConstraint },
    }),
  );
  await kubectlOk(sandbox, [
    "create",
    "configmap",
    "aws-ca",
    "-n",
    o.namespace,
    `--from-file=ca.pem=${sandbox.caPath}`,
  ]);
  const podSpec = {
    serviceAccountName: "app",
    containers: [{
      name: "echo",
      image: nodeImages.s3Echoer,
      imagePullPolicy: "IfNotPresent",
      command: ["sh", "-c", `echo ${o.message} | /s3-echoer ${o.bucket} && exec sleep 3600`],
      env: [{ name: "AWS_DEFAULT_REGION", value: o.region }, { name: "ENABLE_IRP", value: "true" }],
    }],
  };
  pointAtEmulator(podSpec, { region: o.region, bucket: o.bucket, ip: sandbox.host, caConfigMap: "aws-ca" });
  const started = performance.now();
  await kubectlOk(
    sandbox,
    ["apply", "-n", o.namespace, "-f", "-"],
    JSON.stringify({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "echo" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "echo" } },
        template: { metadata: { labels: { app: "echo" } }, spec: podSpec },
      },
    }),
  );
  const key = await waitFor("the Deployment's object in S3", async () => {
    const objects = await s3.send(new ListObjectsV2Command({ Bucket: o.bucket }));
    return objects.Contents?.[0]?.Key;
  }, 120_000);
  const seconds = (performance.now() - started) / 1000;
  const body = await (await s3.send(new GetObjectCommand({ Bucket: o.bucket, Key: key }))).Body!.transformToString();
  const [pod] = await waitFor("the echo pod Ready", async () => {
    const pods = await listPods(sandbox, o.namespace, "app=echo");
    return pods.length === 1 && podReady(pods[0]!) ? pods : undefined;
  });
  const env = Object.fromEntries((pod!.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
  const tokenPath = env.AWS_WEB_IDENTITY_TOKEN_FILE ?? "";
  const file = `${sandbox.dir}/node/kubelet/root/pods/${pod!.metadata.uid}/volumes/kubernetes.io~projected/` +
    `aws-iam-token/${tokenPath.slice(tokenPath.lastIndexOf("/") + 1)}`;
  return { body, seconds, pod: pod!, env, token: (await Deno.readTextFile(file)).trim() };
}
