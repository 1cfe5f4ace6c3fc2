// The setup record the unit tests bind against: bucket "b" in eu-west-1, issuer on S3, generate mode.
import type { SetupRecord } from "../setup_record.ts";

/** The issuer's host and path, `s3.eu-west-1.amazonaws.com/b`. */
export const testIssuerHost = "s3.eu-west-1.amazonaws.com/b";

/** A complete setup record for account 123456789012. */
export const testSetup: SetupRecord = {
  issuer: `https://${testIssuerHost}`,
  jwksUri: `https://${testIssuerHost}/keys.json`,
  providerArn: `arn:aws:iam::123456789012:oidc-provider/${testIssuerHost}`,
  bucket: "b",
  region: "eu-west-1",
  account: "123456789012",
  partition: "aws",
  keySource: "generate",
  clusterName: "b",
  previousIssuers: [],
};
