// ServiceAccounts, namespaces and pods for `bind`, `unbind`, `list` and the IRSA reconciler.
import type { ObservedServiceAccount } from "../bind_plan.ts";
import { fieldManager, saAnnotation } from "../names.ts";
import type { KubeClient } from "./client.ts";
import { type ManagedFieldsEntry, ownedAnnotationKeys } from "./managed_fields.ts";

/** A ServiceAccount that carries a role annotation. */
export interface AnnotatedServiceAccount {
  namespace: string;
  name: string;
  annotations: Record<string, string>;
  /** Annotation keys that the kubectl-irsa field manager owns (from managedFields). */
  ownedAnnotations: string[];
}

/** Thin port over the Kubernetes API for ServiceAccounts. */
export interface ServiceAccountPort {
  namespaceExists(namespace: string): Promise<boolean>;
  get(namespace: string, name: string): Promise<ObservedServiceAccount>;
  /** Server-side apply of exactly these annotations for the kubectl-irsa field manager. */
  apply(namespace: string, name: string, annotations: Record<string, string>): Promise<void>;
  delete(namespace: string, name: string): Promise<void>;
  /** Names of pods that run with the ServiceAccount. */
  podsUsing(namespace: string, name: string): Promise<string[]>;
  /** ServiceAccounts with a role annotation, in one namespace or (undefined) all. */
  listAnnotated(namespace: string | undefined): Promise<AnnotatedServiceAccount[]>;
}

interface ServiceAccountObject {
  metadata: {
    name: string;
    namespace: string;
    annotations?: Record<string, string>;
    managedFields?: ManagedFieldsEntry[];
  };
}

/** The implementation over KubeClient. */
export function serviceAccountPort(kube: KubeClient): ServiceAccountPort {
  return {
    async namespaceExists(namespace) {
      return (await kube.get({ resource: "namespaces", name: namespace })) !== undefined;
    },
    async get(namespace, name) {
      const sa = await kube.get<ServiceAccountObject>({ resource: "serviceaccounts", namespace, name });
      if (!sa) return { exists: false, annotations: {}, ownedAnnotations: [] };
      return {
        exists: true,
        annotations: sa.metadata.annotations ?? {},
        ownedAnnotations: ownedAnnotationKeys(sa.metadata.managedFields, fieldManager),
      };
    },
    async apply(namespace, name, annotations) {
      // Applying without an annotation we applied before removes it; other managers' annotations stay.
      await kube.apply({ resource: "serviceaccounts", namespace, name }, {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name, namespace, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
      });
    },
    async delete(namespace, name) {
      await kube.delete({ resource: "serviceaccounts", namespace, name });
    },
    async podsUsing(namespace, name) {
      const pods = await kube.list<{ metadata: { name: string }; spec?: { serviceAccountName?: string } }>(
        { resource: "pods", namespace },
        { fieldSelector: `spec.serviceAccountName=${name}` },
      );
      return pods.map((p) => p.metadata.name);
    },
    async listAnnotated(namespace) {
      const items = await kube.list<ServiceAccountObject>({
        resource: "serviceaccounts",
        ...(namespace !== undefined ? { namespace } : {}),
      });
      return items
        .filter((sa) => sa.metadata.annotations?.[saAnnotation.roleArn] !== undefined)
        .map((sa) => ({
          namespace: sa.metadata.namespace,
          name: sa.metadata.name,
          annotations: sa.metadata.annotations ?? {},
          ownedAnnotations: ownedAnnotationKeys(sa.metadata.managedFields, fieldManager),
        }));
    },
  };
}
