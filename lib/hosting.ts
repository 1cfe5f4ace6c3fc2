// CloudFront issuer hosting, gathered and applied: reads what exists, and executes lib/hosting_plan.ts's actions in
// order. `init` runs it before the bucket part, because the bucket policy names the distribution it creates.
import type { CloudFrontPort } from "./aws/cloudfront_port.ts";
import {
  type CloudFrontAction,
  type CloudFrontHostingDesired,
  type CloudFrontObserved,
  distributionMatch,
  originAccessControlName,
  withOriginAccessControl,
} from "./hosting_plan.ts";

/** The distribution that serves the issuer. */
export interface HostingDistribution {
  id: string;
  arn: string;
  domainName: string;
}

/** Reads our OAC and distribution. Makes no writes. */
export async function gatherCloudFront(
  desired: CloudFrontHostingDesired,
  port: CloudFrontPort,
): Promise<CloudFrontObserved> {
  const [originAccessControl, distribution] = await Promise.all([
    port.findOriginAccessControl(originAccessControlName(desired.bucket)),
    port.findDistribution(distributionMatch(desired)),
  ]);
  return { originAccessControl, distribution };
}

/**
 * Executes hosting actions in order and returns the distribution they leave (undefined when none). A teardown
 * whose distribution is still deploying stops at the wait and reports `pending`; the next run continues.
 */
export async function applyCloudFrontActions(
  actions: CloudFrontAction[],
  port: CloudFrontPort,
  options: { observed?: HostingDistribution; onAction?: (a: CloudFrontAction) => void } = {},
): Promise<{ distribution: HostingDistribution | undefined; pending: boolean }> {
  let distribution = options.observed;
  let createdOac: string | undefined;
  const oacId = (ref: { id: string } | { createdByPlan: string }) => "id" in ref ? ref.id : createdOac ?? "";
  for (const a of actions) {
    options.onAction?.(a);
    switch (a.kind) {
      case "CreateOriginAccessControl":
        createdOac = await port.createOriginAccessControl(a.config);
        break;
      case "UpdateOriginAccessControl":
        await port.updateOriginAccessControl(a.id, { config: a.config, etag: a.etag });
        break;
      case "CreateDistribution":
        distribution = await port.createDistribution(
          withOriginAccessControl(a.settings, oacId(a.originAccessControl)),
          {
            tags: a.tags,
          },
        );
        break;
      case "UpdateDistribution":
        await port.updateDistribution(a.id, {
          settings: withOriginAccessControl(a.settings, oacId(a.originAccessControl)),
          etag: a.etag,
        });
        break;
      case "TagDistribution":
        await port.tagDistribution(a.arn, a.tags);
        break;
      case "DisableDistribution":
        await port.disableDistribution(a.id);
        break;
      case "WaitForDistribution": {
        const d = await port.getDistribution(a.id);
        if (d && (d.settings.enabled || d.status !== "Deployed")) return { distribution, pending: true };
        break;
      }
      case "DeleteDistribution":
        if (await port.deleteDistribution(a.id) === "pending") return { distribution, pending: true };
        distribution = undefined;
        break;
      case "DeleteOriginAccessControl":
        await port.deleteOriginAccessControl(a.id);
        break;
    }
  }
  return { distribution, pending: false };
}
