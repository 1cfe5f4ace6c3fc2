// Turns the service-account flags that `init` prints into the harness's restart options, so tests apply exactly
// what a user would paste.
import type { ServiceAccountFlags } from "./sandbox.ts";

/**
 * Reads `--service-account-*` (and `--api-audiences`) flags. The current key files are kept besides printed ones,
 * as the printed notes tell users to do, so tokens signed before the change still verify.
 */
export function flagsFromInit(printed: string[], current: ServiceAccountFlags): ServiceAccountFlags {
  const values = (name: string) =>
    printed.filter((f) => f.startsWith(`--${name}=`)).map((f) => f.slice(name.length + 3));
  const keyFiles = values("service-account-key-file");
  const signing = values("service-account-signing-key-file")[0];
  const jwksUri = values("service-account-jwks-uri")[0];
  const audiences = printed.filter((f) => f.startsWith("--api-audiences="));
  const endpoint = values("service-account-signing-endpoint")[0];
  // With the signing endpoint the apiserver takes no key file at all: exactly the printed flags, empty ones too.
  if (endpoint !== undefined) {
    return {
      issuers: values("service-account-issuer"),
      keyFiles,
      ...(signing !== undefined ? { signingKeyFile: signing } : {}),
      signingEndpoint: endpoint,
      ...(jwksUri ? { jwksUri } : {}),
      ...(audiences.length > 0 ? { extra: audiences } : {}),
    };
  }
  return {
    issuers: values("service-account-issuer"),
    keyFiles: [...new Set([...current.keyFiles, ...keyFiles])],
    ...((signing ?? current.signingKeyFile) !== undefined
      ? { signingKeyFile: (signing ?? current.signingKeyFile)! }
      : {}),
    ...(jwksUri ? { jwksUri } : {}),
    ...(audiences.length > 0 ? { extra: audiences } : {}),
  };
}
