// How the plugin words a remedy of lib/: as the flag or command a `kubectl irsa` user types.
import { messageWithRemedies, type Remedy } from "../lib/errors.ts";

/** One remedy as CLI text. */
export function cliRemedy(r: Remedy): string {
  switch (r.kind) {
    case "adopt":
      return `pass --adopt to ${r.to}`;
    case "roleName":
      return "choose another --role-name";
    case "rolePath":
      return `pass --role-path ${r.path}`;
    case "otherServiceAccount":
      return "bind another ServiceAccount";
    case "bindAgain":
      return "rerun 'kubectl irsa bind' to record the binding again";
    case "force":
      return `pass --force to ${r.to}`;
    case "bucket":
      return "choose another --bucket";
    case "bucketRegion":
      return r.region ? `pass --region ${r.region}` : "pass its region with --region";
    case "awsRegion":
      return "pass --region or set AWS_REGION";
    case "clusterName":
      return "pass --cluster-name";
    case "issuerUrl":
      return `${r.to} with --issuer-url`;
    case "generateKey":
      return "rerun with --key-source generate";
    case "cloudFrontHosting":
      return "keep the bucket private behind CloudFront with --hosting cloudfront";
    case "init":
      return r.again ? "run 'kubectl irsa init' again" : "run 'kubectl irsa init' first";
    case "other":
      return r.text;
  }
}

/** The first line of an error's message with its remedies in CLI words. */
export function cliMessage(e: unknown): string {
  return messageWithRemedies(e, cliRemedy);
}
