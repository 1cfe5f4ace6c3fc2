// The seed operator's example manifests (irsa-manager README and examples/eks.yaml), kept verbatim with their
// placeholders; tests fill the placeholders and nothing else, so "applies unchanged" stays literal.

const setup = `apiVersion: irsa-manager.kkb0318.github.io/v1alpha1
kind: IRSASetup
metadata:
  name: irsa-init
  namespace: irsa-manager-system
spec:
  cleanup: false
  discovery:
    s3:
      region: <region>
      bucketName: <S3 bucket name>
`;

const irsa = `apiVersion: irsa-manager.kkb0318.github.io/v1alpha1
kind: IRSA
metadata:
  name: irsa-sample
  namespace: irsa-manager-system
spec:
  cleanup: true
  serviceAccount:
    name: irsa1-sa
    namespaces:
      - kube-system
      - default
  iamRole:
    name: irsa1-role
  iamPolicies:
    - AmazonS3FullAccess
`;

const eks = `apiVersion: irsa-manager.kkb0318.github.io/v1alpha1
kind: IRSASetup
metadata:
  name: irsa-init
  namespace: irsa-manager-system
spec:
  mode: eks
  cleanup: true
  iamOIDCProvider: "<OIDC provider>"
`;

/** The README's IRSASetup with its two placeholders filled. */
export function seedSetupYaml(options: { region: string; bucket: string }): string {
  return setup.replace("<region>", options.region).replace("<S3 bucket name>", options.bucket);
}

/** The README's IRSA example (it has no placeholder). */
export const seedIrsaYaml: string = irsa;

/** examples/eks.yaml with its provider filled. */
export function seedEksYaml(options: { provider: string }): string {
  return eks.replace("<OIDC provider>", options.provider);
}
