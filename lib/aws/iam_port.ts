// IAM: OIDC providers and roles. Reads return undefined for absent resources; writes are idempotent.
import type { AwsClients } from "./clients.ts";
import type { QueryResult } from "./query_client.ts";
import { callOrMissing } from "./sdk_errors.ts";
import { fieldOf, listOf, textOf, type XmlValue } from "./xml.ts";

/** An IAM OIDC provider as IAM reports it. */
export interface ObservedOidcProvider {
  arn: string;
  /** Host and path, without https:// (IAM's spelling). */
  url: string;
  clientIds: string[];
  thumbprints: string[];
  tags: Record<string, string>;
}

/** An IAM role with what `bind` manages on it. */
export interface ObservedRole {
  arn: string;
  name: string;
  path: string;
  /** The trust policy as IAM returns it (URL-encoded JSON). */
  trustPolicy: string;
  tags: Record<string, string>;
  maxSessionDuration: number;
  permissionsBoundaryArn: string | undefined;
  attachedPolicyArns: string[];
  inlinePolicies: Record<string, string>;
}

/** Thin port over IAM. */
export interface IamPort {
  getOidcProvider(arn: string): Promise<ObservedOidcProvider | undefined>;
  createOidcProvider(
    url: string,
    options: { clientIds: string[]; thumbprints: string[]; tags: Record<string, string> },
  ): Promise<string>;
  updateOidcThumbprints(arn: string, thumbprints: string[]): Promise<void>;
  tagOidcProvider(arn: string, tags: Record<string, string>): Promise<void>;
  deleteOidcProvider(arn: string): Promise<void>;
  getRole(name: string): Promise<ObservedRole | undefined>;
  /** True when a policy ARN exists (managed or customer). */
  policyExists(arn: string): Promise<boolean>;
  createRole(
    name: string,
    options: {
      path: string;
      trustPolicy: string;
      tags: Record<string, string>;
      maxSessionDuration?: number;
      permissionsBoundaryArn?: string;
      description?: string;
    },
  ): Promise<string>;
  updateTrustPolicy(name: string, trustPolicy: string): Promise<void>;
  updateRole(name: string, options: { maxSessionDuration: number }): Promise<void>;
  putPermissionsBoundary(name: string, arn: string | undefined): Promise<void>;
  tagRole(name: string, tags: Record<string, string>): Promise<void>;
  untagRole(name: string, keys: string[]): Promise<void>;
  attachPolicy(name: string, arn: string): Promise<void>;
  detachPolicy(name: string, arn: string): Promise<void>;
  putInlinePolicy(name: string, options: { policyName: string; document: string }): Promise<void>;
  deleteInlinePolicy(name: string, policyName: string): Promise<void>;
  deleteRole(name: string): Promise<void>;
}

const tagList = (tags: Record<string, string>) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
const tagRecord = (tags: XmlValue | undefined) =>
  Object.fromEntries(listOf(tags).map((t) => [textOf(t, "Key") ?? "", textOf(t, "Value") ?? ""]));
const texts = (list: XmlValue | undefined) => listOf(list).filter((v): v is string => typeof v === "string");

/** The implementation on the query client. */
export function iamPort(clients: AwsClients): IamPort {
  async function send(
    operation: string,
    target: string,
    input: Record<string, unknown>,
    missing?: string[],
  ): Promise<QueryResult | undefined> {
    return await callOrMissing(() => clients.iam.call(operation, input), {
      operation: `iam:${operation}`,
      target,
      ...(missing ? { missing } : {}),
    });
  }
  return {
    async getOidcProvider(arn) {
      const out = await send("GetOpenIDConnectProvider", arn, { OpenIDConnectProviderArn: arn }, ["NoSuchEntity"]);
      if (!out) return undefined;
      return {
        arn,
        url: (textOf(out, "Url") ?? "").replace(/^https:\/\//, ""),
        clientIds: texts(out.ClientIDList),
        thumbprints: texts(out.ThumbprintList),
        tags: tagRecord(out.Tags),
      };
    },
    async createOidcProvider(url, { clientIds, thumbprints, tags }) {
      const out = await send("CreateOpenIDConnectProvider", url, {
        Url: url,
        ClientIDList: clientIds,
        ...(thumbprints.length > 0 ? { ThumbprintList: thumbprints } : {}),
        Tags: tagList(tags),
      });
      return textOf(out, "OpenIDConnectProviderArn") ?? "";
    },
    async updateOidcThumbprints(arn, thumbprints) {
      await send("UpdateOpenIDConnectProviderThumbprint", arn, {
        OpenIDConnectProviderArn: arn,
        ThumbprintList: thumbprints,
      });
    },
    async tagOidcProvider(arn, tags) {
      await send("TagOpenIDConnectProvider", arn, { OpenIDConnectProviderArn: arn, Tags: tagList(tags) });
    },
    async deleteOidcProvider(arn) {
      await send("DeleteOpenIDConnectProvider", arn, { OpenIDConnectProviderArn: arn }, ["NoSuchEntity"]);
    },
    async getRole(name) {
      const role = fieldOf(await send("GetRole", name, { RoleName: name }, ["NoSuchEntity"]), "Role");
      if (!role) return undefined;
      const attached: string[] = [];
      let marker: string | undefined;
      do {
        const page = await send("ListAttachedRolePolicies", name, {
          RoleName: name,
          ...(marker ? { Marker: marker } : {}),
        });
        attached.push(...listOf(page?.AttachedPolicies).map((p) => textOf(p, "PolicyArn") ?? ""));
        marker = textOf(page, "IsTruncated") === "true" ? textOf(page, "Marker") : undefined;
      } while (marker);
      const inlinePolicies: Record<string, string> = {};
      marker = undefined;
      do {
        const page = await send("ListRolePolicies", name, { RoleName: name, ...(marker ? { Marker: marker } : {}) });
        for (const policyName of texts(page?.PolicyNames)) {
          const doc = await send("GetRolePolicy", name, { RoleName: name, PolicyName: policyName });
          inlinePolicies[policyName] = textOf(doc, "PolicyDocument") ?? "";
        }
        marker = textOf(page, "IsTruncated") === "true" ? textOf(page, "Marker") : undefined;
      } while (marker);
      const maxSession = Number(textOf(role, "MaxSessionDuration"));
      return {
        arn: textOf(role, "Arn") ?? "",
        name: textOf(role, "RoleName") ?? name,
        path: textOf(role, "Path") ?? "/",
        trustPolicy: textOf(role, "AssumeRolePolicyDocument") ?? "",
        tags: tagRecord(fieldOf(role, "Tags")),
        maxSessionDuration: Number.isFinite(maxSession) && maxSession > 0 ? maxSession : 3600,
        permissionsBoundaryArn: textOf(fieldOf(role, "PermissionsBoundary"), "PermissionsBoundaryArn"),
        attachedPolicyArns: attached,
        inlinePolicies,
      };
    },
    async policyExists(arn) {
      return (await send("GetPolicy", arn, { PolicyArn: arn }, ["NoSuchEntity"])) !== undefined;
    },
    async createRole(name, options) {
      const out = await send("CreateRole", name, {
        RoleName: name,
        Path: options.path,
        AssumeRolePolicyDocument: options.trustPolicy,
        Tags: tagList(options.tags),
        ...(options.maxSessionDuration ? { MaxSessionDuration: options.maxSessionDuration } : {}),
        ...(options.permissionsBoundaryArn ? { PermissionsBoundary: options.permissionsBoundaryArn } : {}),
        ...(options.description ? { Description: options.description } : {}),
      });
      return textOf(fieldOf(out, "Role"), "Arn") ?? "";
    },
    async updateTrustPolicy(name, trustPolicy) {
      await send("UpdateAssumeRolePolicy", name, { RoleName: name, PolicyDocument: trustPolicy });
    },
    async updateRole(name, { maxSessionDuration }) {
      await send("UpdateRole", name, { RoleName: name, MaxSessionDuration: maxSessionDuration });
    },
    async putPermissionsBoundary(name, arn) {
      if (arn) await send("PutRolePermissionsBoundary", name, { RoleName: name, PermissionsBoundary: arn });
      else await send("DeleteRolePermissionsBoundary", name, { RoleName: name }, ["NoSuchEntity"]);
    },
    async tagRole(name, tags) {
      await send("TagRole", name, { RoleName: name, Tags: tagList(tags) });
    },
    async untagRole(name, keys) {
      await send("UntagRole", name, { RoleName: name, TagKeys: keys }, ["NoSuchEntity"]);
    },
    async attachPolicy(name, arn) {
      await send("AttachRolePolicy", `${name} <- ${arn}`, { RoleName: name, PolicyArn: arn });
    },
    async detachPolicy(name, arn) {
      await send("DetachRolePolicy", `${name} -> ${arn}`, { RoleName: name, PolicyArn: arn }, ["NoSuchEntity"]);
    },
    async putInlinePolicy(name, { policyName, document }) {
      await send("PutRolePolicy", `${name}/${policyName}`, {
        RoleName: name,
        PolicyName: policyName,
        PolicyDocument: document,
      });
    },
    async deleteInlinePolicy(name, policyName) {
      await send("DeleteRolePolicy", `${name}/${policyName}`, { RoleName: name, PolicyName: policyName }, [
        "NoSuchEntity",
      ]);
    },
    async deleteRole(name) {
      await send("DeleteRole", name, { RoleName: name }, ["NoSuchEntity"]);
    },
  };
}
