import { deepStrictEqual, equal } from "node:assert/strict";
import type {
  CloudFrontPort,
  DistributionDeletion,
  DistributionSettings,
  ObservedDistribution,
  ObservedOriginAccessControl,
  OriginAccessControlConfig,
} from "./aws/cloudfront_port.ts";
import { applyCloudFrontActions, gatherCloudFront } from "./hosting.ts";
import {
  type CloudFrontAction,
  type CloudFrontHostingDesired,
  desiredDistributionSettings,
  distributionTags,
  originAccessControlConfig,
  planCloudFrontHosting,
  planCloudFrontTeardown,
} from "./hosting_plan.ts";

const desired: CloudFrontHostingDesired = { bucket: "b", region: "eu-west-1" };

/** CloudFront in memory; records every write. A disable takes `deployDelay` reads of the distribution to deploy. */
class FakeCloudFront implements CloudFrontPort {
  oacs = new Map<string, ObservedOriginAccessControl>();
  distributions = new Map<string, ObservedDistribution>();
  calls: string[] = [];
  created: DistributionSettings[] = [];
  updated: DistributionSettings[] = [];
  deleteAnswer: DistributionDeletion | undefined;
  private next = 0;

  constructor(private deployDelay = 0) {}

  findOriginAccessControl(name: string): Promise<ObservedOriginAccessControl | undefined> {
    return Promise.resolve([...this.oacs.values()].find((o) => o.name === name));
  }
  createOriginAccessControl(config: OriginAccessControlConfig): Promise<string> {
    const id = `OAC${++this.next}`;
    this.calls.push(`createOriginAccessControl ${config.name}`);
    this.oacs.set(id, { ...config, id, etag: "E1" });
    return Promise.resolve(id);
  }
  updateOriginAccessControl(id: string, options: { config: OriginAccessControlConfig; etag: string }): Promise<void> {
    this.calls.push(`updateOriginAccessControl ${id}`);
    this.oacs.set(id, { ...options.config, id, etag: "E2" });
    return Promise.resolve();
  }
  deleteOriginAccessControl(id: string): Promise<void> {
    this.calls.push(`deleteOriginAccessControl ${id}`);
    this.oacs.delete(id);
    return Promise.resolve();
  }
  findDistribution(match: { tags: Record<string, string> }): Promise<ObservedDistribution | undefined> {
    const carries = (d: ObservedDistribution) => Object.entries(match.tags).every(([k, v]) => d.tags[k] === v);
    return Promise.resolve([...this.distributions.values()].find(carries));
  }
  getDistribution(id: string): Promise<ObservedDistribution | undefined> {
    this.calls.push(`getDistribution ${id}`);
    const d = this.distributions.get(id);
    if (d && d.status === "InProgress" && this.deployDelay-- <= 0) d.status = "Deployed";
    return Promise.resolve(d && structuredClone(d));
  }
  createDistribution(
    settings: DistributionSettings,
    options: { tags: Record<string, string> },
  ): Promise<{ id: string; arn: string; domainName: string }> {
    const id = `E${++this.next}`;
    const out = { id, arn: `arn:aws:cloudfront::123456789012:distribution/${id}`, domainName: `d${id}.cloudfront.net` };
    this.calls.push(`createDistribution ${id}`);
    this.created.push(settings);
    this.distributions.set(id, { ...out, status: "InProgress", etag: "ETAG1", settings, tags: options.tags });
    return Promise.resolve(out);
  }
  updateDistribution(id: string, options: { settings: DistributionSettings; etag: string }): Promise<string> {
    this.calls.push(`updateDistribution ${id}`);
    this.updated.push(options.settings);
    const d = this.distributions.get(id)!;
    d.settings = options.settings;
    d.status = "InProgress";
    return Promise.resolve("ETAG2");
  }
  tagDistribution(arn: string, tags: Record<string, string>): Promise<void> {
    this.calls.push(`tagDistribution ${arn}`);
    const d = [...this.distributions.values()].find((x) => x.arn === arn)!;
    d.tags = { ...d.tags, ...tags };
    return Promise.resolve();
  }
  disableDistribution(id: string): Promise<void> {
    this.calls.push(`disableDistribution ${id}`);
    const d = this.distributions.get(id);
    if (d?.settings.enabled) {
      d.settings = { ...d.settings, enabled: false };
      d.status = "InProgress";
    }
    return Promise.resolve();
  }
  deleteDistribution(id: string): Promise<DistributionDeletion> {
    this.calls.push(`deleteDistribution ${id}`);
    const d = this.distributions.get(id);
    const answer = this.deleteAnswer ?? (d && (d.settings.enabled || d.status !== "Deployed") ? "pending" : "deleted");
    if (answer === "deleted") this.distributions.delete(id);
    return Promise.resolve(answer);
  }
}

/** A fake holding our OAC and distribution, as a completed hosting setup leaves them. */
function hosted(options: { enabled?: boolean; status?: string; deployDelay?: number } = {}): FakeCloudFront {
  const fake = new FakeCloudFront(options.deployDelay ?? 0);
  fake.oacs.set("OAC9", { ...originAccessControlConfig(desired.bucket), id: "OAC9", etag: "E1" });
  fake.distributions.set("E9", {
    id: "E9",
    arn: "arn:aws:cloudfront::123456789012:distribution/E9",
    domainName: "dE9.cloudfront.net",
    status: options.status ?? "Deployed",
    etag: "ETAG9",
    settings: { ...desiredDistributionSettings(desired, "OAC9"), enabled: options.enabled ?? true },
    tags: distributionTags(desired.bucket),
  });
  return fake;
}

const e9 = { id: "E9", arn: "arn:aws:cloudfront::123456789012:distribution/E9", domainName: "dE9.cloudfront.net" };

async function teardownActions(fake: FakeCloudFront): Promise<CloudFrontAction[]> {
  return planCloudFrontTeardown(desired, await gatherCloudFront(desired, fake));
}

Deno.test("applyCloudFrontActions() creates the distribution signing with the OAC the same run created", async () => {
  const fake = new FakeCloudFront();
  const actions = planCloudFrontHosting(desired, await gatherCloudFront(desired, fake));
  deepStrictEqual(actions.map((a) => a.kind), ["CreateOriginAccessControl", "CreateDistribution"]);
  const seen: string[] = [];
  const result = await applyCloudFrontActions(actions, fake, { onAction: (a) => seen.push(a.kind) });
  deepStrictEqual(seen, ["CreateOriginAccessControl", "CreateDistribution"]);
  const [oacId] = [...fake.oacs.keys()];
  equal(fake.created.length, 1);
  deepStrictEqual(fake.created[0]!.origins.map((o) => o.originAccessControlId), [oacId]);
  deepStrictEqual(fake.created[0], desiredDistributionSettings(desired, oacId!));
  const [d] = [...fake.distributions.values()];
  deepStrictEqual(result, { distribution: { id: d!.id, arn: d!.arn, domainName: d!.domainName }, pending: false });
  // The next plan finds both and has nothing to do.
  deepStrictEqual(planCloudFrontHosting(desired, await gatherCloudFront(desired, fake)), []);
});

Deno.test("applyCloudFrontActions() repoints a distribution at a recreated OAC", async () => {
  const fake = hosted();
  fake.oacs.clear();
  const actions = planCloudFrontHosting(desired, await gatherCloudFront(desired, fake));
  deepStrictEqual(actions.map((a) => a.kind), ["CreateOriginAccessControl", "UpdateDistribution"]);
  const result = await applyCloudFrontActions(actions, fake, { observed: e9 });
  const [oacId] = [...fake.oacs.keys()];
  deepStrictEqual(fake.updated.map((s) => s.origins.map((o) => o.originAccessControlId)), [[oacId]]);
  deepStrictEqual(result, { distribution: e9, pending: false });
});

Deno.test("applyCloudFrontActions() stops a teardown at the wait while the distribution deploys", async (t) => {
  await t.step("just disabled", async () => {
    const fake = hosted({ deployDelay: 1 });
    const actions = await teardownActions(fake);
    deepStrictEqual(actions.map((a) => a.kind), [
      "DisableDistribution",
      "WaitForDistribution",
      "DeleteDistribution",
      "DeleteOriginAccessControl",
    ]);
    const result = await applyCloudFrontActions(actions, fake, { observed: e9 });
    deepStrictEqual(result, { distribution: e9, pending: true });
    deepStrictEqual(fake.calls, ["disableDistribution E9", "getDistribution E9"]);
    equal(fake.oacs.size, 1, "the OAC stays while the distribution signs with it");
  });
  await t.step("still enabled (disabled by hand and re-enabled)", async () => {
    const fake = hosted();
    const wait: CloudFrontAction[] = [
      { kind: "WaitForDistribution", id: "E9", domainName: e9.domainName },
      { kind: "DeleteDistribution", id: "E9", domainName: e9.domainName },
    ];
    deepStrictEqual(await applyCloudFrontActions(wait, fake, { observed: e9 }), { distribution: e9, pending: true });
    deepStrictEqual(fake.calls, ["getDistribution E9"]);
  });
  await t.step("the next run continues where it stopped", async () => {
    const fake = hosted({ enabled: false, status: "InProgress" });
    const actions = await teardownActions(fake);
    deepStrictEqual(actions.map((a) => a.kind), [
      "WaitForDistribution",
      "DeleteDistribution",
      "DeleteOriginAccessControl",
    ]);
    deepStrictEqual(await applyCloudFrontActions(actions, fake, { observed: e9 }), {
      distribution: undefined,
      pending: false,
    });
  });
});

Deno.test("applyCloudFrontActions() reports pending when CloudFront refuses the delete", async () => {
  const fake = hosted({ enabled: false });
  fake.deleteAnswer = "pending";
  const actions = await teardownActions(fake);
  deepStrictEqual(actions.map((a) => a.kind), ["DeleteDistribution", "DeleteOriginAccessControl"]);
  deepStrictEqual(await applyCloudFrontActions(actions, fake, { observed: e9 }), { distribution: e9, pending: true });
  deepStrictEqual(fake.calls, ["deleteDistribution E9"]);
  equal(fake.oacs.size, 1);
});

Deno.test("applyCloudFrontActions() tears down everything and leaves no distribution", async () => {
  const fake = hosted();
  const actions = await teardownActions(fake);
  const seen: CloudFrontAction["kind"][] = [];
  const result = await applyCloudFrontActions(actions, fake, { observed: e9, onAction: (a) => seen.push(a.kind) });
  deepStrictEqual(result, { distribution: undefined, pending: false });
  deepStrictEqual(seen, actions.map((a) => a.kind));
  deepStrictEqual(fake.calls, [
    "disableDistribution E9",
    "getDistribution E9",
    "deleteDistribution E9",
    "deleteOriginAccessControl OAC9",
  ]);
  equal(fake.distributions.size, 0);
  equal(fake.oacs.size, 0);
  deepStrictEqual(await teardownActions(fake), []);
});
