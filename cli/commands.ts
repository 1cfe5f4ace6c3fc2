// The command names and summaries, kept free of the argument parser so `--help` loads almost nothing.

/** Every subcommand the plugin runs (besides help). */
export type CommandName =
  | "init"
  | "bind"
  | "unbind"
  | "list"
  | "install"
  | "uninstall"
  | "doctor"
  | "rotate-key"
  | "version"
  | "completion";

/** Subcommands with their one-line summaries, in help order. */
export const commandSummaries: Record<CommandName, string> = {
  init: "Publish the cluster's OIDC issuer to S3, register the IAM OIDC provider, print the kube-apiserver change",
  bind: "Give a ServiceAccount an IAM role: create or update the role and annotate the ServiceAccount",
  unbind: "Remove a ServiceAccount's IAM role binding and delete the role (or keep it)",
  list: "List ServiceAccounts bound to IAM roles",
  install: "Install the in-cluster daemon: CRDs, RBAC, the Deployment and the pod identity webhook",
  uninstall: "Remove the in-cluster daemon, its webhook and (unless --keep-crds) the CRDs",
  doctor: "Check every link of the IRSA chain (issuer, keys, OIDC provider, role, webhook) and explain failures",
  "rotate-key": "Rotate the service-account signing key in stages (prepare, verify, retire) with no token rejected",
  version: "Print the plugin version",
  completion: "Print a shell completion script (bash, zsh, fish) for kubectl-irsa",
};

/** The daemon is started by mod.ts, not parsed here, but it has help like every command. */
export const daemonSummary = "Run the in-cluster reconciler and pod identity webhook (what install deploys)";

/** The signer, like the daemon, is started by mod.ts and has help. */
export const signerSummary = "Serve kube-apiserver's external token signer (ExternalJWTSigner) with an AWS KMS key";

/** What help can be asked for. */
export type HelpTopic = CommandName | "daemon" | "signer";

/** Whether argv only asks for help, so the parser need not load; returns the topic, or null when it does not. */
export function helpRequest(argv: string[]): { topic?: HelpTopic } | null {
  const first = argv[0];
  if (first === undefined || first === "--help" || first === "-h") return {};
  if (first === "help" && argv.length === 1) return {};
  const topic = first === "help" ? argv[1] : first;
  const asksHelp = first === "help" ? argv.length === 2 : argv.slice(1).some((a) => a === "--help" || a === "-h");
  if (asksHelp && (topic === "daemon" || topic === "signer")) return { topic };
  if (asksHelp && topic !== undefined && Object.hasOwn(commandSummaries, topic)) return { topic: topic as CommandName };
  return null;
}
