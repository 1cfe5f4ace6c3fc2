// How the daemon words a remedy of lib/: as the field of the IRSA or IRSASetup object (or the daemon's
// environment) that its reader edits, since a condition or Event has no command line to add a flag to.
import { messageWithRemedies, type Remedy } from "../lib/errors.ts";

/** One remedy as text for a condition message or an Event. */
export function daemonRemedy(r: Remedy): string {
  switch (r.kind) {
    case "adopt":
      return `set spec.adopt: true to ${r.to}`;
    case "roleName":
      return "choose another spec.iamRole.name";
    case "rolePath":
      return `set spec.iamRole.path: ${r.path}`;
    case "otherServiceAccount":
      return "name another ServiceAccount in spec.serviceAccount.name";
    case "bindAgain":
      return "apply its IRSA object (or 'kubectl irsa bind') again to record the binding again";
    case "force":
      // IRSASetup has no force: replacing a signing key invalidates every token, so only a person does it.
      return `the daemon never does that; run 'kubectl irsa init --force' to ${r.to}`;
    case "bucket":
      return "choose another spec.discovery.s3.bucketName";
    case "bucketRegion":
      return r.region ? `set spec.discovery.s3.region: ${r.region}` : "set spec.discovery.s3.region to its region";
    case "awsRegion":
      return "set AWS_REGION in the daemon's environment";
    case "clusterName":
      return "set spec.clusterName in the IRSASetup";
    case "issuerUrl":
      return `${r.to} with spec.issuerUrl`;
    case "generateKey":
      return "set spec.keySource: generate";
    case "cloudFrontHosting":
      return "keep the bucket private behind CloudFront with spec.hosting: cloudfront";
    case "init":
      return r.again
        ? "let the IRSASetup rewrite it (or run 'kubectl irsa init' again)"
        : "create an IRSASetup (or run 'kubectl irsa init')";
    case "other":
      return r.text;
  }
}

/** The first line of an error's message with its remedies in the daemon's words. */
export function daemonMessage(e: unknown): string {
  return messageWithRemedies(e, daemonRemedy);
}
