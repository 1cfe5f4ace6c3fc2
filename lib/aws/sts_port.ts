// STS: who are we (account and partition), and web identity exchange for proofs and the doctor.
import { parseArn, type Partition } from "../arn.ts";
import { awsError } from "./sdk_errors.ts";
import type { AwsClients } from "./clients.ts";
import { fieldOf, textOf } from "./xml.ts";

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

/** The implementation on the query client. */
export function stsPort(clients: AwsClients): StsPort {
  return {
    async callerIdentity() {
      try {
        const out = await clients.sts.call("GetCallerIdentity");
        const arn = textOf(out, "Arn") ?? "";
        const parsed = parseArn(arn);
        return { account: textOf(out, "Account") ?? parsed.account, partition: parsed.partition as Partition, arn };
      } catch (e) {
        throw awsError(e, "sts:GetCallerIdentity", "the current credentials");
      }
    },
    async assumeRoleWithWebIdentity(roleArn, token) {
      try {
        // The token is the proof: STS takes this call unsigned, as the SDK sends it.
        const out = await clients.sts.call("AssumeRoleWithWebIdentity", {
          RoleArn: roleArn,
          RoleSessionName: "kubectl-irsa",
          WebIdentityToken: token,
        }, { unsigned: true });
        const c = fieldOf(out, "Credentials");
        const accessKeyId = textOf(c, "AccessKeyId");
        const secretAccessKey = textOf(c, "SecretAccessKey");
        const sessionToken = textOf(c, "SessionToken");
        if (!accessKeyId || !secretAccessKey || !sessionToken) throw new Error("STS returned no credentials");
        return { accessKeyId, secretAccessKey, sessionToken };
      } catch (e) {
        throw awsError(e, "sts:AssumeRoleWithWebIdentity", roleArn);
      }
    },
  };
}
