// The IRSA and IRSASetup objects as the reconcilers read them; spec and status types come from lib/crds.ts.
import { crdGroup, crdVersion } from "../lib/names.ts";
import type { IrsaSetupSpec, IrsaSetupStatus, IrsaSpec, IrsaStatus } from "../lib/crds.ts";
import type { ResourceRef } from "../lib/kube/client.ts";

/** Metadata the reconcilers use. */
export interface ObjectMetadata {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
}

/** An IRSA object. */
export interface IrsaObject {
  metadata: ObjectMetadata;
  spec: IrsaSpec;
  status?: IrsaStatus;
}

/** An IRSASetup object. */
export interface IrsaSetupObject {
  metadata: ObjectMetadata;
  spec: IrsaSetupSpec;
  status?: IrsaSetupStatus;
}

/** Collection references for the two kinds (all namespaces). */
export const irsaResource: ResourceRef = { group: crdGroup, version: crdVersion, resource: "irsas" };
/** See {@link irsaResource}. */
export const irsaSetupResource: ResourceRef = { group: crdGroup, version: crdVersion, resource: "irsasetups" };
