// Kept apart from apiserver_change.ts so the CLI parser can name the distributions without loading YAML.
import { invalid } from "./errors.ts";

/** The Kubernetes distributions whose configuration format the change can be rendered in. */
export const distros = ["kubeadm", "static-pod", "k3s", "rke2", "kind", "raw"] as const;

/** One of {@link distros}. */
export type Distro = typeof distros[number];

/** The distributions whose apiserver can take the signing endpoint: those that pass no key file flags themselves. */
export const signerDistros: readonly Distro[] = ["static-pod", "raw"];

/**
 * Throws IrsaError invalid for a distribution that passes its own key file flags (kubeadm, k3s, RKE2 and kind, which
 * is kubeadm). kube-apiserver refuses them beside the signing endpoint, and an empty value still counts (the flag is a
 * string array; seen with 1.36.3), so no entry of the distribution's configuration can clear them.
 */
export function checkSignerDistro(distro: Distro): void {
  if (signerDistros.includes(distro)) return;
  throw invalid(
    "SignerUnsupportedDistro",
    `${distro} passes its own service-account key file flags to kube-apiserver, which refuses them beside the ` +
      "signing endpoint; render the change for static pods and edit the apiserver manifest, or for a raw command line",
  );
}
