// `kubectl irsa uninstall`: deletes what install applied, webhook first and CRDs just before the namespace.
import { type CrdKindName, crdKinds } from "../lib/crds.ts";
import { IrsaError } from "../lib/errors.ts";
import { resourceRefOf, uninstallManifests } from "../lib/install_manifests.ts";
import { type KubeClient, resourcePath } from "../lib/kube/client.ts";
import { crdGroup, crdVersion } from "../lib/names.ts";
import type { UninstallCommand } from "./args.ts";
import { daemonNamespace, objectLabel } from "./install.ts";
import type { Io } from "./main.ts";
import { openKube } from "./session.ts";

/** Runs `kubectl irsa uninstall`. */
export async function runUninstall(cmd: UninstallCommand, io: Io): Promise<number> {
  const namespace = daemonNamespace(cmd.namespace, "uninstall");
  const objects = uninstallManifests(namespace)
    .filter((o) => !(cmd.keepCrds && o.kind === "CustomResourceDefinition"));
  const dryRun = cmd.flags.dryRun;
  const kube = await openKube(cmd.flags);
  try {
    const remaining = await countCustomResources(kube);
    const summary = Object.entries(remaining).filter(([, n]) => n > 0).map(([kind, n]) => `${n} ${kind}`).join(" and ");
    if (summary !== "") {
      const advice = "delete them first while the daemon runs, so those with cleanup: true remove their AWS " +
        "resources (kubectl delete irsa,irsasetup --all -A)";
      if (!cmd.keepCrds) {
        // Deleting the CRDs would delete these objects without AWS cleanup, and with the daemon gone their
        // finalizers would leave the CRDs stuck in Terminating.
        throw new IrsaError(
          "precondition",
          "CustomResourcesExist",
          `${summary} objects still exist, and deleting the CRDs would delete them without cleanup; ${advice}, ` +
            "or pass --keep-crds to keep them",
        );
      }
      io.err(
        `warning: ${summary} objects stay without a daemon: nothing reconciles them, and their finalizers keep ` +
          `a later delete pending until kubectl irsa install runs again; to clean them up, ${advice}\n`,
      );
    }
    let deleted = 0;
    for (const o of objects) {
      const path = resourcePath(resourceRefOf(o));
      try {
        await kube.request("DELETE", path, dryRun ? { query: { dryRun: "All" } } : {});
      } catch (e) {
        if (e instanceof IrsaError && e.kind === "not-found") {
          io.err(`${objectLabel(o)} not found\n`);
          continue;
        }
        throw e;
      }
      deleted++;
      if (dryRun) io.out(`${objectLabel(o)} deleted (server dry run)\n`);
      else io.err(`deleted ${objectLabel(o)}\n`);
    }
    io.err(
      dryRun
        ? `${deleted} objects would be deleted; nothing was changed\n`
        : `Uninstalled kubectl-irsa from namespace ${namespace} (${deleted} objects deleted)\n`,
    );
    return 0;
  } finally {
    kube.close();
  }
}

/** How many objects of each kind exist in all namespaces; a kind whose CRD is absent counts 0. */
async function countCustomResources(kube: KubeClient): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const name of Object.keys(crdKinds) as CrdKindName[]) {
    const k = crdKinds[name];
    try {
      const items = await kube.list({ group: crdGroup, version: crdVersion, resource: k.plural });
      counts[k.kind] = items.length;
    } catch (e) {
      if (e instanceof IrsaError && e.kind === "not-found") counts[k.kind] = 0;
      else throw e;
    }
  }
  return counts;
}
