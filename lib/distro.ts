// Kept apart from apiserver_change.ts so the CLI parser can name the distributions without loading YAML.

/** The Kubernetes distributions whose configuration format the change can be rendered in. */
export const distros = ["kubeadm", "static-pod", "k3s", "rke2", "kind", "raw"] as const;

/** One of {@link distros}. */
export type Distro = typeof distros[number];
