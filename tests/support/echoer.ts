// The seed's s3-echoer validation, automated: a ServiceAccount token is verified like STS, the role's trust
// policy is evaluated against its claims, STS (moto) exchanges it for credentials, and those credentials write
// an object to S3 with moto's IAM enforcement on.
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { stsPort } from "../../lib/aws/sts_port.ts";
import { iamPort } from "../../lib/aws/iam_port.ts";
import { validateRoleArn } from "../../lib/arn.ts";
import { issuerHostPath } from "../../lib/issuer.ts";
import { saAnnotation, stsAudience } from "../../lib/names.ts";
import { evaluateTrust } from "../../lib/policy_eval.ts";
import type { SetupRecord } from "../../lib/setup_record.ts";
import { verifyLikeSts } from "../../lib/web_identity.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { anonymousFetcher, sandboxAws, sandboxHttpHandler } from "./aws.ts";
import { motoEnforceAuth } from "./irsa_setup.ts";
import { requestToken } from "./kube.ts";
import type { Sandbox } from "./sandbox.ts";

/** Each verified link, for printing; `written` tells whether the S3 write succeeded. */
export interface EchoerResult {
  links: string[];
  written: boolean;
  denial?: string;
}

/**
 * Runs the chain for `namespace/serviceAccount`, writing `key` into `bucket`. moto's IAM enforcement is switched
 * on only around the S3 write: moto answers anonymous object reads (which STS makes) with errors while it is on.
 */
export async function s3Echoer(
  sandbox: Sandbox,
  kube: KubeClient,
  target: { namespace: string; serviceAccount: string; setup: SetupRecord; bucket: string; key: string },
): Promise<EchoerResult> {
  const links: string[] = [];
  const sa = await kube.get<{ metadata: { annotations?: Record<string, string> } }>({
    resource: "serviceaccounts",
    namespace: target.namespace,
    name: target.serviceAccount,
  });
  const roleArn = sa?.metadata.annotations?.[saAnnotation.roleArn];
  if (!roleArn) throw new Error(`${target.namespace}/${target.serviceAccount} has no role annotation`);
  const audience = sa?.metadata.annotations?.[saAnnotation.audience] ?? stsAudience;
  links.push(`ServiceAccount ${target.namespace}/${target.serviceAccount} is annotated with ${roleArn}`);

  const token = await requestToken(kube, { namespace: target.namespace, serviceAccount: target.serviceAccount }, {
    audience,
  });
  const anon = anonymousFetcher(sandbox);
  let claims;
  try {
    claims = (await verifyLikeSts(token, { fetcher: anon.fetcher, audience })).claims;
  } finally {
    anon.close();
  }
  links.push(`token verified like STS: iss ${claims.iss}, sub ${claims.sub}, aud ${audience}`);

  const aws = await sandboxAws(sandbox);
  try {
    const role = await iamPort(aws.product).getRole(validateRoleArn(roleArn).name);
    if (!role) throw new Error(`role ${roleArn} does not exist`);
    const decision = evaluateTrust(role.trustPolicy, {
      principalArn: target.setup.providerArn,
      action: "sts:AssumeRoleWithWebIdentity",
      issuerHostPath: issuerHostPath(target.setup.issuer),
      claims: { sub: String(claims.sub), aud: audience },
    });
    if (!decision.allowed) throw new Error(`the trust policy refuses the token: ${decision.reasons.join("; ")}`);
    links.push("trust policy allows the token's sub and aud (StringEquals)");

    const credentials = await stsPort(aws.product).assumeRoleWithWebIdentity(roleArn, token);
    links.push(`STS AssumeRoleWithWebIdentity returned credentials ${credentials.accessKeyId}`);

    const s3 = new S3Client({
      region: aws.region,
      endpoint: sandbox.moto!.endpoint,
      forcePathStyle: true,
      credentials,
      maxAttempts: 1,
      requestHandler: sandboxHttpHandler(sandbox.caPem),
    });
    await motoEnforceAuth(sandbox, 0);
    try {
      await s3.send(new PutObjectCommand({ Bucket: target.bucket, Key: target.key, Body: "hello from IRSA\n" }));
      links.push(`s3://${target.bucket}/${target.key} written with the role's credentials`);
      return { links, written: true };
    } catch (e) {
      return { links, written: false, denial: `${(e as Error).name}: ${(e as Error).message}` };
    } finally {
      await motoEnforceAuth(sandbox, Infinity);
      s3.destroy();
    }
  } finally {
    aws.destroy();
  }
}
