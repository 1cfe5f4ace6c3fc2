// ARNs are built from the partition that sts:GetCallerIdentity reports, never a hard-coded "aws", so the same
// code serves China and GovCloud accounts.

import { issuerHostPath } from "./issuer.ts";
import { invalid } from "./errors.ts";
import { validateRoleName, validateRolePath } from "./validate.ts";

/** The AWS partitions whose IAM kubectl-irsa supports. */
export type Partition = "aws" | "aws-cn" | "aws-us-gov";

/** Every supported partition. */
export const partitions: readonly Partition[] = ["aws", "aws-cn", "aws-us-gov"];

/** True when `s` names a supported partition. */
export function isPartition(s: string): s is Partition {
  return (partitions as readonly string[]).includes(s);
}

/** The parts of an ARN: `arn:<partition>:<service>:<region>:<account>:<resource>`. */
export interface Arn {
  partition: Partition;
  service: string;
  region: string;
  account: string;
  resource: string;
}

const accountId = /^\d{12}$/;
const serviceName = /^[a-z0-9-]+$/;
const policyNameChars = /^[\w+=,.@-]+$/;

/** Splits an ARN into its parts; throws IrsaError("invalid", "InvalidArn") for anything malformed. */
export function parseArn(s: string): Arn {
  const parts = s.split(":");
  const [prefix, partition, service, region, account] = parts;
  const resource = parts.slice(5).join(":");
  const bad = (why: string) => invalid("InvalidArn", `Invalid ARN ${JSON.stringify(s)}: ${why}`);
  if (parts.length < 6 || prefix !== "arn") {
    throw bad("expected arn:<partition>:<service>:<region>:<account>:<resource>");
  }
  if (partition === undefined || !isPartition(partition)) {
    throw bad(`unknown partition ${JSON.stringify(partition)}; expected one of ${partitions.join(", ")}`);
  }
  if (service === undefined || !serviceName.test(service)) throw bad("the service is missing or malformed");
  if (resource.length === 0) throw bad("the resource is missing");
  if (/\s/.test(s)) throw bad("it contains whitespace");
  return { partition, service, region: region ?? "", account: account ?? "", resource };
}

/** Joins ARN parts back into the string form. */
export function formatArn(arn: Arn): string {
  return `arn:${arn.partition}:${arn.service}:${arn.region}:${arn.account}:${arn.resource}`;
}

function checkAccount(account: string, what: string): void {
  if (!accountId.test(account)) {
    throw invalid("InvalidArn", `Invalid AWS account ID ${JSON.stringify(account)} for ${what}: must be 12 digits`);
  }
}

/** `arn:<p>:iam::<account>:oidc-provider/<issuer host and path>`; accepts the issuer with or without https://. */
export function oidcProviderArn(partition: Partition, account: string, issuer: string): string {
  checkAccount(account, "the OIDC provider");
  const hostPath = issuerHostPath(issuer);
  if (hostPath.length === 0 || /[\s]/.test(hostPath) || hostPath.includes("://")) {
    throw invalid("InvalidArn", `Invalid issuer ${JSON.stringify(issuer)}: expected an https URL or host/path`);
  }
  return `arn:${partition}:iam::${account}:oidc-provider/${hostPath}`;
}

/** `arn:<p>:iam::<account>:role<path><name>`; the path defaults to "/". */
export function roleArn(
  partition: Partition,
  account: string,
  name: string,
  options: { path?: string } = {},
): string {
  const path = options.path ?? "/";
  checkAccount(account, `role ${JSON.stringify(name)}`);
  validateRoleName(name);
  validateRolePath(path);
  return `arn:${partition}:iam::${account}:role${path}${name}`;
}

/** A role ARN taken apart. */
export interface ParsedRoleArn {
  partition: Partition;
  account: string;
  path: string;
  name: string;
}

/**
 * Checks the value of the ServiceAccount annotation `eks.amazonaws.com/role-arn`. A malformed value only fails
 * later inside the pod, as STS's "Request ARN is invalid", so the message names that symptom.
 */
export function validateRoleArn(s: string): ParsedRoleArn {
  const bad = (why: string) =>
    invalid(
      "InvalidRoleArn",
      `Invalid role ARN ${JSON.stringify(s)}: ${why} (STS would answer "Request ARN is invalid")`,
    );
  let arn: Arn;
  try {
    arn = parseArn(s);
  } catch {
    throw bad("expected arn:<partition>:iam::<12-digit account>:role/<name>");
  }
  if (arn.service !== "iam") throw bad(`the service is ${JSON.stringify(arn.service)}, not "iam"`);
  if (arn.region !== "") throw bad("IAM ARNs have an empty region field");
  if (!accountId.test(arn.account)) throw bad(`the account ${JSON.stringify(arn.account)} is not 12 digits`);
  if (!arn.resource.startsWith("role/")) throw bad(`the resource ${JSON.stringify(arn.resource)} is not role/<name>`);
  const rest = arn.resource.slice("role".length);
  const slash = rest.lastIndexOf("/");
  const path = rest.slice(0, slash + 1);
  const name = rest.slice(slash + 1);
  try {
    validateRolePath(path);
    validateRoleName(name);
  } catch (e) {
    throw bad((e as Error).message);
  }
  return { partition: arn.partition, account: arn.account, path, name };
}

/** Checks an IAM policy ARN: service iam, account 12 digits or "aws" (AWS managed), resource policy/<path><name>. */
export function validatePolicyArn(s: string): Arn {
  const arn = parseArn(s);
  const bad = (why: string) => invalid("InvalidArn", `Invalid policy ARN ${JSON.stringify(s)}: ${why}`);
  if (arn.service !== "iam") throw bad(`the service is ${JSON.stringify(arn.service)}, not "iam"`);
  if (arn.region !== "") throw bad("IAM ARNs have an empty region field");
  if (arn.account !== "aws" && !accountId.test(arn.account)) {
    throw bad(`the account ${JSON.stringify(arn.account)} is neither 12 digits nor "aws"`);
  }
  if (!arn.resource.startsWith("policy/")) throw bad(`the resource ${JSON.stringify(arn.resource)} is not policy/…`);
  checkPolicyPathName(arn.resource.slice("policy/".length), s);
  return arn;
}

function checkPolicyPathName(pathName: string, original: string): void {
  const segments = pathName.split("/");
  const name = segments[segments.length - 1] ?? "";
  if (name.length > 128 || !segments.every((seg) => policyNameChars.test(seg))) {
    throw invalid(
      "InvalidArn",
      `Invalid policy ${JSON.stringify(original)}: expected [path/]name with names of letters, digits and ` +
        "'+=,.@_-' (at most 128 characters) and no empty path segment",
    );
  }
}

/**
 * Turns a policy given by the user into an ARN. A bare name, optionally under a path like "service-role/", is an
 * AWS managed policy, as in the seed's IRSA.spec.iamPolicies. A full ARN is checked and returned unchanged; its
 * partition must be the account's, since IAM refuses to attach a policy of another partition.
 */
export function managedPolicyArn(partition: Partition, nameOrArn: string): string {
  if (nameOrArn.startsWith("arn:")) {
    const arn = validatePolicyArn(nameOrArn);
    if (arn.partition !== partition) {
      throw invalid(
        "InvalidArn",
        `Invalid policy ARN ${JSON.stringify(nameOrArn)}: its partition ${JSON.stringify(arn.partition)} is not ` +
          `the account's partition ${JSON.stringify(partition)}`,
      );
    }
    return nameOrArn;
  }
  checkPolicyPathName(nameOrArn, nameOrArn);
  return `arn:${partition}:iam::aws:policy/${nameOrArn}`;
}
