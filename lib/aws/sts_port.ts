// STS: who are we (account and partition), and web identity exchange for proofs and the doctor.
import { parseArn, type Partition } from "../arn.ts";
import { awsError } from "./sdk_errors.ts";
import type { AwsClients } from "./clients.ts";

/** The caller's identity; every ARN is built from its partition and account. */
export interface CallerIdentity {
  account: string;
  partition: Partition;
  arn: string;
}

/** Temporary credentials returned by STS. */
export interface StsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

/** Thin port over STS. */
export interface StsPort {
  callerIdentity(): Promise<CallerIdentity>;
  assumeRoleWithWebIdentity(roleArn: string, token: string): Promise<StsCredentials>;
}

/** The SDK implementation. */
export function stsPort(clients: AwsClients): StsPort {
  return {
    async callerIdentity() {
      const { GetCallerIdentityCommand } = await import("@aws-sdk/client-sts");
      try {
        const out = await clients.sts.send(new GetCallerIdentityCommand({}));
        const arn = parseArn(out.Arn ?? "");
        return { account: out.Account ?? arn.account, partition: arn.partition as Partition, arn: out.Arn ?? "" };
      } catch (e) {
        throw awsError(e, "sts:GetCallerIdentity", "the current credentials");
      }
    },
    async assumeRoleWithWebIdentity(roleArn, token) {
      const { AssumeRoleWithWebIdentityCommand } = await import("@aws-sdk/client-sts");
      try {
        const out = await clients.sts.send(
          new AssumeRoleWithWebIdentityCommand({
            RoleArn: roleArn,
            RoleSessionName: "kubectl-irsa",
            WebIdentityToken: token,
          }),
        );
        const c = out.Credentials;
        if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) throw new Error("STS returned no credentials");
        return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
      } catch (e) {
        throw awsError(e, "sts:AssumeRoleWithWebIdentity", roleArn);
      }
    },
  };
}
