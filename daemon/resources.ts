// The IRSA and IRSASetup objects as the reconcilers read them (seed fields plus kubectl-irsa's optional ones).
import { crdGroup, crdVersion } from "../lib/names.ts";
import type { Condition } from "./conditions.ts";
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
  spec: {
    cleanup?: boolean;
    serviceAccount: { name: string; namespaces: string[] };
    iamRole: { name: string; path?: string };
    iamPolicies?: string[];
    audience?: string;
    permissionsBoundary?: string;
    tags?: Record<string, string>;
    inlinePolicy?: string;
    stsRegionalEndpoints?: boolean;
    tokenExpiration?: number;
    adopt?: boolean;
  };
  status?: { conditions?: Condition[]; serviceAccounts?: { name: string; namespace: string }[]; roleArn?: string };
}

/** An IRSASetup object. */
export interface IrsaSetupObject {
  metadata: ObjectMetadata;
  spec: {
    cleanup: boolean;
    mode?: "selfhosted" | "eks";
    discovery?: { s3?: { region: string; bucketName: string } };
    iamOIDCProvider?: string;
    keySource?: "cluster" | "generate";
    issuerUrl?: string;
    clusterName?: string;
  };
  status?: { conditions?: Condition[]; issuer?: string; providerArn?: string; apiserverFlags?: string[] };
}

/** Collection references for the two kinds (all namespaces). */
export const irsaResource: ResourceRef = { group: crdGroup, version: crdVersion, resource: "irsas" };
/** See {@link irsaResource}. */
export const irsaSetupResource: ResourceRef = { group: crdGroup, version: crdVersion, resource: "irsasetups" };
