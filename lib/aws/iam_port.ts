// IAM: OIDC providers and roles. Reads return undefined for absent resources; writes are idempotent.
import type { AwsClients } from "./clients.ts";
import { callOrMissing } from "./sdk_errors.ts";

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
const tagRecord = (tags: { Key?: string | undefined; Value?: string | undefined }[] | undefined) =>
  Object.fromEntries((tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));

/** The SDK implementation. */
export function iamPort(clients: AwsClients): IamPort {
  const sdk = () => import("@aws-sdk/client-iam");
  async function send<T>(
    operation: string,
    target: string,
    command: unknown,
    missing?: string[],
  ): Promise<T | undefined> {
    // deno-lint-ignore no-explicit-any
    return await callOrMissing(() => clients.iam.send(command as any) as Promise<T>, {
      operation,
      target,
      ...(missing ? { missing } : {}),
    });
  }
  return {
    async getOidcProvider(arn) {
      const iam = await sdk();
      const out = await send<{ Url?: string; ClientIDList?: string[]; ThumbprintList?: string[]; Tags?: [] }>(
        "iam:GetOpenIDConnectProvider",
        arn,
        new iam.GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: arn }),
        ["NoSuchEntity", "NoSuchEntityException"],
      );
      if (!out) return undefined;
      return {
        arn,
        url: (out.Url ?? "").replace(/^https:\/\//, ""),
        clientIds: out.ClientIDList ?? [],
        thumbprints: out.ThumbprintList ?? [],
        tags: tagRecord(out.Tags),
      };
    },
    async createOidcProvider(url, { clientIds, thumbprints, tags }) {
      const iam = await sdk();
      const out = await send<{ OpenIDConnectProviderArn?: string }>(
        "iam:CreateOpenIDConnectProvider",
        url,
        new iam.CreateOpenIDConnectProviderCommand({
          Url: url,
          ClientIDList: clientIds,
          ...(thumbprints.length > 0 ? { ThumbprintList: thumbprints } : {}),
          Tags: tagList(tags),
        }),
      );
      return out?.OpenIDConnectProviderArn ?? "";
    },
    async updateOidcThumbprints(arn, thumbprints) {
      const iam = await sdk();
      await send(
        "iam:UpdateOpenIDConnectProviderThumbprint",
        arn,
        new iam.UpdateOpenIDConnectProviderThumbprintCommand({
          OpenIDConnectProviderArn: arn,
          ThumbprintList: thumbprints,
        }),
      );
    },
    async tagOidcProvider(arn, tags) {
      const iam = await sdk();
      await send(
        "iam:TagOpenIDConnectProvider",
        arn,
        new iam.TagOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: arn, Tags: tagList(tags) }),
      );
    },
    async deleteOidcProvider(arn) {
      const iam = await sdk();
      await send(
        "iam:DeleteOpenIDConnectProvider",
        arn,
        new iam.DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: arn }),
        ["NoSuchEntity"],
      );
    },
    async getRole(name) {
      const iam = await sdk();
      const out = await send<{ Role?: import("@aws-sdk/client-iam").Role }>(
        "iam:GetRole",
        name,
        new iam.GetRoleCommand({ RoleName: name }),
        ["NoSuchEntity"],
      );
      const role = out?.Role;
      if (!role) return undefined;
      const attached: string[] = [];
      let marker: string | undefined;
      do {
        const page = await send<
          { AttachedPolicies?: { PolicyArn?: string }[]; IsTruncated?: boolean; Marker?: string }
        >(
          "iam:ListAttachedRolePolicies",
          name,
          new iam.ListAttachedRolePoliciesCommand({ RoleName: name, ...(marker ? { Marker: marker } : {}) }),
        );
        attached.push(...(page?.AttachedPolicies ?? []).map((p) => p.PolicyArn ?? ""));
        marker = page?.IsTruncated ? page.Marker : undefined;
      } while (marker);
      const inlineNames = await send<{ PolicyNames?: string[] }>(
        "iam:ListRolePolicies",
        name,
        new iam.ListRolePoliciesCommand({ RoleName: name }),
      );
      const inlinePolicies: Record<string, string> = {};
      for (const policyName of inlineNames?.PolicyNames ?? []) {
        const doc = await send<{ PolicyDocument?: string }>(
          "iam:GetRolePolicy",
          name,
          new iam.GetRolePolicyCommand({ RoleName: name, PolicyName: policyName }),
        );
        inlinePolicies[policyName] = doc?.PolicyDocument ?? "";
      }
      return {
        arn: role.Arn ?? "",
        name: role.RoleName ?? name,
        path: role.Path ?? "/",
        trustPolicy: role.AssumeRolePolicyDocument ?? "",
        tags: tagRecord(role.Tags),
        maxSessionDuration: role.MaxSessionDuration ?? 3600,
        permissionsBoundaryArn: role.PermissionsBoundary?.PermissionsBoundaryArn,
        attachedPolicyArns: attached,
        inlinePolicies,
      };
    },
    async policyExists(arn) {
      const iam = await sdk();
      return (await send("iam:GetPolicy", arn, new iam.GetPolicyCommand({ PolicyArn: arn }), ["NoSuchEntity"])) !==
        undefined;
    },
    async createRole(name, options) {
      const iam = await sdk();
      const out = await send<{ Role?: { Arn?: string } }>(
        "iam:CreateRole",
        name,
        new iam.CreateRoleCommand({
          RoleName: name,
          Path: options.path,
          AssumeRolePolicyDocument: options.trustPolicy,
          Tags: tagList(options.tags),
          ...(options.maxSessionDuration ? { MaxSessionDuration: options.maxSessionDuration } : {}),
          ...(options.permissionsBoundaryArn ? { PermissionsBoundary: options.permissionsBoundaryArn } : {}),
          ...(options.description ? { Description: options.description } : {}),
        }),
      );
      return out?.Role?.Arn ?? "";
    },
    async updateTrustPolicy(name, trustPolicy) {
      const iam = await sdk();
      await send(
        "iam:UpdateAssumeRolePolicy",
        name,
        new iam.UpdateAssumeRolePolicyCommand({ RoleName: name, PolicyDocument: trustPolicy }),
      );
    },
    async updateRole(name, { maxSessionDuration }) {
      const iam = await sdk();
      await send(
        "iam:UpdateRole",
        name,
        new iam.UpdateRoleCommand({ RoleName: name, MaxSessionDuration: maxSessionDuration }),
      );
    },
    async putPermissionsBoundary(name, arn) {
      const iam = await sdk();
      if (arn) {
        await send(
          "iam:PutRolePermissionsBoundary",
          name,
          new iam.PutRolePermissionsBoundaryCommand({ RoleName: name, PermissionsBoundary: arn }),
        );
      } else {
        await send(
          "iam:DeleteRolePermissionsBoundary",
          name,
          new iam.DeleteRolePermissionsBoundaryCommand({ RoleName: name }),
          ["NoSuchEntity"],
        );
      }
    },
    async tagRole(name, tags) {
      const iam = await sdk();
      await send("iam:TagRole", name, new iam.TagRoleCommand({ RoleName: name, Tags: tagList(tags) }));
    },
    async untagRole(name, keys) {
      const iam = await sdk();
      await send("iam:UntagRole", name, new iam.UntagRoleCommand({ RoleName: name, TagKeys: keys }), ["NoSuchEntity"]);
    },
    async attachPolicy(name, arn) {
      const iam = await sdk();
      await send(
        "iam:AttachRolePolicy",
        `${name} <- ${arn}`,
        new iam.AttachRolePolicyCommand({ RoleName: name, PolicyArn: arn }),
      );
    },
    async detachPolicy(name, arn) {
      const iam = await sdk();
      await send(
        "iam:DetachRolePolicy",
        `${name} -> ${arn}`,
        new iam.DetachRolePolicyCommand({ RoleName: name, PolicyArn: arn }),
        ["NoSuchEntity"],
      );
    },
    async putInlinePolicy(name, { policyName, document }) {
      const iam = await sdk();
      await send(
        "iam:PutRolePolicy",
        `${name}/${policyName}`,
        new iam.PutRolePolicyCommand({ RoleName: name, PolicyName: policyName, PolicyDocument: document }),
      );
    },
    async deleteInlinePolicy(name, policyName) {
      const iam = await sdk();
      await send(
        "iam:DeleteRolePolicy",
        `${name}/${policyName}`,
        new iam.DeleteRolePolicyCommand({ RoleName: name, PolicyName: policyName }),
        ["NoSuchEntity"],
      );
    },
    async deleteRole(name) {
      const iam = await sdk();
      await send("iam:DeleteRole", name, new iam.DeleteRoleCommand({ RoleName: name }), ["NoSuchEntity"]);
    },
  };
}
