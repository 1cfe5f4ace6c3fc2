// The seed operator's two CustomResourceDefinitions (IRSASetup, IRSA), written once: the TypeScript types the CLI
// and daemon read objects with, and the structural OpenAPI schemas `install` applies. Every field, required list
// and default of irsa-manager v1alpha1 stays as the seed had it, so objects written for the seed keep applying;
// the fields kubectl-irsa adds are all optional. The `satisfies` clauses below tie each schema's properties to
// its type's keys, so the two cannot drift apart.
import type { BindingPolicy } from "./binding_policy.ts";
import { crdGroup, crdVersion } from "./names.ts";

/** How an IRSASetup gets its OIDC issuer: set up here (`selfhosted`) or EKS's own (`eks`). Immutable. */
export type SetupMode = "selfhosted" | "eks";

/** Where the signing keys of a self-hosted issuer come from: the apiserver's own keys, or a generated pair. */
export type KeySource = "cluster" | "generate" | "kms";

/** A `metav1.Condition`, as the seed's status carries it. */
export interface Condition {
  /** `Ready` for both kinds. */
  type: string;
  status: "True" | "False" | "Unknown";
  /** CamelCase, such as the seed's `SelfHostedSetupReady` or `IRSAReady`. */
  reason: string;
  message: string;
  /** The `metadata.generation` the condition was computed from. */
  observedGeneration?: number;
  /** RFC 3339; changes only when `status` changes. */
  lastTransitionTime: string;
}

/** `IRSASetup.spec`. */
export interface IrsaSetupSpec {
  /** Seed: when true, deleting the object removes what it created (OIDC provider, bucket objects). Required. */
  cleanup: boolean;
  /** Seed: defaults to `selfhosted`; cannot change after creation. */
  mode?: SetupMode;
  /** Seed: where the discovery documents live; needed in `selfhosted` mode. */
  discovery?: { s3?: { region: string; bucketName: string } };
  /** Seed (README name): the EKS cluster's OIDC provider, like `oidc.eks.<region>.amazonaws.com/id/<id>`. */
  iamOIDCProvider?: string;
  /** Seed (its Go JSON name for the same field): read when `iamOIDCProvider` is absent. */
  provider?: string;
  /** New: `generate` (the default, as the seed did), `cluster` (publish the apiserver's own keys) or `kms`. */
  keySource?: KeySource;
  /** New: with `kms`, the signer's KMS keys, the signing one first. */
  kmsKeys?: string[];
  /** New: `s3` (default, the bucket serves the issuer) or `cloudfront` (a private bucket behind a distribution). */
  hosting?: "s3" | "cloudfront";
  /** New: the issuer URL (default `https://s3.<region>.amazonaws.com/<bucket>`). */
  issuerUrl?: string;
  /** New: the cluster's name in AWS tags and default role names. */
  clusterName?: string;
  /** New: what tenant roles may get, and the path and boundary of every role (lib/binding_policy.ts). */
  bindingPolicy?: BindingPolicy;
}

/** `IRSASetup.status`. */
export interface IrsaSetupStatus {
  conditions?: Condition[];
  /** Seed: the conditions the seed operator wrote; kept so its objects' status survives the upgrade. */
  selfHostedSetup?: Condition[];
  /** The issuer URL tokens must carry. */
  issuer?: string;
  providerArn?: string;
  /** The kube-apiserver flags the cluster needs, in order. */
  apiserverFlags?: string[];
}

/** `IRSA.spec`. */
export interface IrsaSpec {
  /** Seed: when true, deleting the object removes the role and the ServiceAccount annotations. Required. */
  cleanup: boolean;
  /** Seed: the ServiceAccount name, bound in each of the namespaces. */
  serviceAccount?: { name?: string; namespaces?: string[] };
  /** Seed: `name`. New: `path`, `maxSessionDuration`. */
  iamRole?: { name?: string; path?: string; maxSessionDuration?: number };
  /** Seed: AWS managed policy names (optionally under a path) or policy ARNs. */
  iamPolicies?: string[];
  /** New: token audience (default `sts.amazonaws.com`). */
  audience?: string;
  /** New: ARN of the policy that bounds the role. */
  permissionsBoundary?: string;
  /** New: tags for the role. */
  tags?: Record<string, string>;
  /** New: a JSON policy document put on the role as its inline policy. */
  inlinePolicy?: string;
  /** New: whether pods use the regional STS endpoint. */
  stsRegionalEndpoints?: boolean;
  /** New: lifetime of the projected token, in seconds. */
  tokenExpiration?: number;
  /** New: take over an existing role or ServiceAccount annotation that kubectl-irsa did not create. */
  adopt?: boolean;
}

/** `IRSA.status`. */
export interface IrsaStatus {
  conditions?: Condition[];
  /** Seed: the ServiceAccounts the object annotated. */
  serviceAccounts?: { name: string; namespace: string }[];
  roleArn?: string;
}

/** The subset of structural OpenAPI v3 that these CRDs use. */
export interface Schema {
  type: "object" | "array" | "string" | "boolean" | "integer";
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema;
  enum?: string[];
  default?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  "x-kubernetes-validations"?: { rule: string; message: string }[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
}

/** Patterns shared by the schemas and the tests; Go RE2 and JavaScript (`u` flag) read them alike. */
export const patterns = {
  /** DNS-1123 label: namespace names. */
  dnsLabel: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
  /** DNS-1123 subdomain: ServiceAccount names. */
  dnsSubdomain: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
  /** IAM role name. */
  roleName: "^[\\w+=,.@-]{1,64}$",
  /** IAM path: `/` or `/a/b/`, printable ASCII without empty segments. */
  rolePath: "^/([\\x21-\\x2E\\x30-\\x7E]+/)*$",
  /** General-purpose S3 bucket name (the finer rules are checked when the bucket is used). */
  bucketName: "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
  /** AWS region code, such as `eu-west-1` or `us-gov-west-1`. */
  region: "^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]{1,2}$",
  /** Issuer URL: https, a host, an optional path, no query, fragment or trailing slash. */
  issuerUrl: "^https://[a-z0-9.-]+(:[0-9]{1,5})?(/[^/?#\\s]+)*$",
  /** A managed policy name (optionally under a path such as `service-role/`) or an IAM policy ARN. */
  policy: "^(arn:aws(-cn|-us-gov)?:iam::(aws|[0-9]{12}):policy/)?([\\w+=,.@-]+/)*[\\w+=,.@-]{1,128}$",
  /** An IAM policy ARN. */
  policyArn: "^arn:aws(-cn|-us-gov)?:iam::(aws|[0-9]{12}):policy/([\\w+=,.@-]+/)*[\\w+=,.@-]{1,128}$",
  /** A policy ARN pattern of the binding policy: IAM-style `*` and `?` wildcards allowed. */
  policyGlob: "^arn:[*?a-z-]+:iam::[*?a-z0-9-]*:policy/[\\x21-\\x7E]*$",
  /** Characters IAM allows in tag keys and values. */
  tagText: "^[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*$",
} as const;

const conditionSchema: Schema = {
  type: "object",
  description: "Condition contains details for one aspect of the current state of this API resource.",
  required: ["lastTransitionTime", "message", "reason", "status", "type"],
  properties: {
    lastTransitionTime: {
      type: "string",
      format: "date-time",
      description: "The last time the condition transitioned from one status to another.",
    },
    message: { type: "string", maxLength: 32768, description: "A human readable message about the transition." },
    observedGeneration: {
      type: "integer",
      format: "int64",
      minimum: 0,
      description: "The .metadata.generation that the condition was set based upon.",
    },
    reason: {
      type: "string",
      minLength: 1,
      maxLength: 1024,
      pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
      description: "A CamelCase identifier of the reason for the condition's last transition.",
    },
    status: { type: "string", enum: ["True", "False", "Unknown"], description: "Status of the condition." },
    type: {
      type: "string",
      maxLength: 316,
      pattern:
        "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
      description: "Type of condition in CamelCase or in foo.example.com/CamelCase.",
    },
  } satisfies Record<keyof Required<Condition>, Schema>,
};

const conditionsSchema = (description: string): Schema => ({
  type: "array",
  description,
  items: conditionSchema,
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
});

const irsaSetupSpec: Schema = {
  type: "object",
  description: "IRSASetupSpec defines the desired state of IRSASetup.",
  // The seed required discovery outright, which refused its own eks example; the rule keeps it required in
  // selfhosted mode only (mode is defaulted before validation runs).
  required: ["cleanup"],
  "x-kubernetes-validations": [{
    rule: "(has(self.mode) && self.mode == 'eks') || has(self.discovery)",
    message: "spec.discovery is required in selfhosted mode",
  }, {
    rule: "(has(self.keySource) && self.keySource == 'kms') == has(self.kmsKeys)",
    message: "spec.kmsKeys is required with keySource kms, and only then",
  }],
  properties: {
    cleanup: {
      type: "boolean",
      description: "When true, deleting the IRSASetup removes the AWS resources it created.",
    },
    mode: {
      type: "string",
      enum: ["selfhosted", "eks"],
      default: "selfhosted",
      description: 'Operation mode: "selfhosted" for self-managed clusters, "eks" for Amazon EKS. Immutable.',
      "x-kubernetes-validations": [{ rule: "self == oldSelf", message: "Value is immutable" }],
    },
    discovery: {
      type: "object",
      description: "Where the OIDC discovery documents are hosted. Only applicable when mode is selfhosted.",
      properties: {
        s3: {
          type: "object",
          description: "The S3 bucket that hosts the OIDC discovery documents.",
          required: ["bucketName", "region"],
          properties: {
            bucketName: {
              type: "string",
              minLength: 3,
              maxLength: 63,
              pattern: patterns.bucketName,
              description: "Name of the S3 bucket that hosts the OIDC discovery documents.",
            },
            region: {
              type: "string",
              maxLength: 32,
              pattern: patterns.region,
              description: "AWS region of the bucket, like eu-west-1.",
            },
          },
        },
      },
    },
    iamOIDCProvider: {
      type: "string",
      maxLength: 255,
      description: "The EKS cluster's IAM OIDC provider, like oidc.eks.<region>.amazonaws.com/id/<id>. Mode eks only.",
    },
    provider: {
      type: "string",
      maxLength: 255,
      description: "The seed operator's JSON name for iamOIDCProvider; read when iamOIDCProvider is absent.",
    },
    keySource: {
      type: "string",
      enum: ["cluster", "generate", "kms"],
      default: "generate",
      description: 'Signing keys: "generate" a new pair (as the seed did), publish the apiserver\'s own ("cluster"), ' +
        'or the KMS keys of kubectl-irsa\'s signer ("kms", with kmsKeys).',
    },
    hosting: {
      type: "string",
      enum: ["s3", "cloudfront"],
      default: "s3",
      description: 'Issuer hosting: "s3" serves the two discovery objects from the bucket publicly; "cloudfront" ' +
        "keeps the bucket private (Block Public Access fully on) behind a CloudFront distribution.",
    },
    kmsKeys: {
      type: "array",
      minItems: 1,
      maxItems: 8,
      items: { type: "string", minLength: 1, maxLength: 2048 },
      // Order matters (the first signs), so the list is replaced whole.
      "x-kubernetes-list-type": "atomic",
      description: "With keySource kms: the signer's KMS keys (key ID, key ARN or alias), the signing one first.",
    },
    issuerUrl: {
      type: "string",
      maxLength: 255,
      pattern: patterns.issuerUrl,
      description: "Issuer URL (default https://s3.<region>.amazonaws.com/<bucket>); https, no trailing slash.",
    },
    clusterName: {
      type: "string",
      minLength: 1,
      maxLength: 256,
      pattern: patterns.tagText,
      description: "Name of the cluster in AWS ownership tags and default role names.",
    },
    bindingPolicy: {
      type: "object",
      description: "What roles of IRSA objects outside the daemon's namespace may get, and the IAM path and " +
        "permissions boundary of every role the daemon creates.",
      properties: {
        allowedPolicies: {
          type: "array",
          maxItems: 100,
          description: "Managed policy ARN patterns (* and ?) tenant roles may get; absent: any policy not refused.",
          items: { type: "string", maxLength: 2048, pattern: patterns.policyGlob },
        },
        refusedPolicies: {
          type: "array",
          maxItems: 100,
          description: "Managed policy ARN patterns tenant roles never get (default: AdministratorAccess, " +
            "IAMFullAccess, PowerUserAccess, AWSOrganizationsFullAccess, job-function/*).",
          items: { type: "string", maxLength: 2048, pattern: patterns.policyGlob },
        },
        inlinePolicies: {
          type: "string",
          enum: ["Allow", "Deny"],
          description: "Whether tenant roles may have an inline policy (default Deny).",
        },
        rolePath: {
          type: "string",
          maxLength: 512,
          pattern: patterns.rolePath,
          description: "IAM path every role is created under, like /irsa/ (default /).",
        },
        permissionsBoundary: {
          type: "string",
          maxLength: 2048,
          pattern: patterns.policyArn,
          description: "ARN of the permissions boundary set on every role the daemon creates.",
        },
      } satisfies Record<keyof Required<BindingPolicy>, Schema>,
    },
  } satisfies Record<keyof Required<IrsaSetupSpec>, Schema>,
};

const irsaSetupStatus: Schema = {
  type: "object",
  description: "IRSASetupStatus defines the observed state of IRSASetup.",
  properties: {
    conditions: conditionsSchema("Conditions of the setup; Ready is True once the issuer is published and registered."),
    selfHostedSetup: conditionsSchema("Conditions written by the seed operator (irsa-manager); no longer updated."),
    issuer: { type: "string", description: "The issuer URL tokens must carry." },
    providerArn: { type: "string", description: "ARN of the IAM OIDC provider." },
    apiserverFlags: {
      type: "array",
      items: { type: "string" },
      description: "The kube-apiserver flags the cluster needs, in order.",
    },
  } satisfies Record<keyof Required<IrsaSetupStatus>, Schema>,
};

const irsaSpec: Schema = {
  type: "object",
  description: "IRSASpec defines the desired state of IRSA.",
  required: ["cleanup"],
  properties: {
    cleanup: {
      type: "boolean",
      description: "When true, deleting the IRSA removes its IAM role and ServiceAccount annotations.",
    },
    serviceAccount: {
      type: "object",
      description: "The Kubernetes ServiceAccount that gets the role.",
      properties: {
        name: {
          type: "string",
          maxLength: 253,
          pattern: patterns.dnsSubdomain,
          description: "Name of the ServiceAccount.",
        },
        namespaces: {
          type: "array",
          description: "Namespaces in which the ServiceAccount is bound.",
          items: { type: "string", maxLength: 63, pattern: patterns.dnsLabel },
        },
      },
    },
    iamRole: {
      type: "object",
      description: "The IAM role.",
      properties: {
        name: { type: "string", pattern: patterns.roleName, description: "Name of the IAM role." },
        path: {
          type: "string",
          maxLength: 512,
          pattern: patterns.rolePath,
          description: "IAM path of the role, like /k8s/ (default /).",
        },
        maxSessionDuration: {
          type: "integer",
          minimum: 3600,
          maximum: 43200,
          description: "Longest session of the role, in seconds (default 3600).",
        },
      },
    },
    iamPolicies: {
      type: "array",
      description: "Policies to attach: AWS managed policy names (like AmazonS3ReadOnlyAccess) or policy ARNs.",
      items: { type: "string", maxLength: 2048, pattern: patterns.policy },
    },
    audience: {
      type: "string",
      minLength: 1,
      // No tighter than bind: the audience is bounded by the trust policy's 2048 characters, which bind checks.
      maxLength: 2048,
      description: "Audience of the ServiceAccount token (default sts.amazonaws.com).",
    },
    permissionsBoundary: {
      type: "string",
      maxLength: 2048,
      pattern: patterns.policyArn,
      description: "ARN of the policy that bounds the role's permissions.",
    },
    tags: {
      type: "object",
      description: "Tags for the IAM role.",
      maxProperties: 50,
      additionalProperties: { type: "string", maxLength: 256, pattern: patterns.tagText },
      "x-kubernetes-validations": [{
        rule: "self.all(k, size(k) >= 1 && size(k) <= 128 && !k.startsWith('aws:'))",
        message: 'tag keys must be 1-128 characters and must not start with "aws:"',
      }],
    },
    inlinePolicy: {
      type: "string",
      maxLength: 65536,
      description: "A JSON policy document put on the role as its inline policy.",
    },
    stsRegionalEndpoints: { type: "boolean", description: "Whether pods use the regional STS endpoint." },
    tokenExpiration: {
      type: "integer",
      format: "int64",
      minimum: 600,
      description: "Lifetime of the projected ServiceAccount token, in seconds (at least 600).",
    },
    adopt: {
      type: "boolean",
      description: "Take over an existing role or annotation that kubectl-irsa did not create.",
    },
  } satisfies Record<keyof Required<IrsaSpec>, Schema>,
};

const irsaStatus: Schema = {
  type: "object",
  description: "IRSAStatus defines the observed state of IRSA.",
  properties: {
    conditions: conditionsSchema(
      "Conditions of the binding; Ready is True once the role and annotations are in place.",
    ),
    serviceAccounts: {
      type: "array",
      description: "Inventory of the ServiceAccounts this object annotated.",
      items: {
        type: "object",
        required: ["name", "namespace"],
        properties: { name: { type: "string" }, namespace: { type: "string" } },
      },
    },
    roleArn: { type: "string", description: "ARN of the IAM role." },
  } satisfies Record<keyof Required<IrsaStatus>, Schema>,
};

/** The two kinds: names as the seed registered them, and their schemas. */
export const crdKinds = {
  irsaSetup: {
    kind: "IRSASetup",
    listKind: "IRSASetupList",
    plural: "irsasetups",
    singular: "irsasetup",
    description: "IRSASetup sets up IAM Roles for Service Accounts (IRSA) for the cluster: its OIDC issuer in AWS.",
    spec: irsaSetupSpec,
    status: irsaSetupStatus,
    column: { name: "Issuer", jsonPath: ".status.issuer" },
  },
  irsa: {
    kind: "IRSA",
    listKind: "IRSAList",
    plural: "irsas",
    singular: "irsa",
    description: "IRSA gives a ServiceAccount an IAM role.",
    spec: irsaSpec,
    status: irsaStatus,
    column: { name: "Role ARN", jsonPath: ".status.roleArn" },
  },
} as const;

/** Identifies one of the two kinds. */
export type CrdKindName = keyof typeof crdKinds;

/** The full CRD name, like `irsas.irsa-manager.kkb0318.github.io`. */
export function crdName(kind: CrdKindName): string {
  return `${crdKinds[kind].plural}.${crdGroup}`;
}

/** The schema of one kind's whole object (apiVersion, kind, metadata, spec, status). */
export function objectSchema(kind: CrdKindName): Schema {
  const k = crdKinds[kind];
  return {
    type: "object",
    description: k.description,
    properties: {
      apiVersion: { type: "string", description: "APIVersion defines the versioned schema of this object." },
      kind: { type: "string", description: "Kind is the REST resource this object represents." },
      metadata: { type: "object" },
      spec: k.spec,
      status: k.status,
    },
  };
}

/** Both CustomResourceDefinitions (apiextensions.k8s.io/v1), in the order they are applied. */
export function crdManifests(): Record<string, unknown>[] {
  return (Object.keys(crdKinds) as CrdKindName[]).map((name) => {
    const k = crdKinds[name];
    return {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: crdName(name) },
      spec: {
        group: crdGroup,
        names: { kind: k.kind, listKind: k.listKind, plural: k.plural, singular: k.singular },
        scope: "Namespaced",
        versions: [{
          name: crdVersion,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: k.column.name, type: "string", jsonPath: k.column.jsonPath },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: { openAPIV3Schema: objectSchema(name) },
        }],
      },
    };
  });
}
