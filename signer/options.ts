// Parses `kubectl irsa signer` flags into typed options. Pure, table-tested.
import { parseArgs } from "node:util";
import { validateKmsKeyRefs } from "../lib/kms_key_ref.ts";
import { signerSocketPath, tokenExpirationSeconds } from "../lib/names.ts";
import type { LogLevel } from "../daemon/log.ts";
import { duration } from "../daemon/options.ts";

/** Everything the signer is configured with. */
export interface SignerOptions {
  socket: string;
  /** KMS keys, the signing one first; the others only verify (rotation). */
  kmsKeys: string[];
  /** PEM public keys that keep verifying old tokens (the apiserver's key files before the switch). */
  verifyKeyFiles: string[];
  maxTokenExpirationSeconds: number;
  refreshHintSeconds: number;
  kmsTimeoutMs: number;
  /** PEM file trusted for the KMS endpoint besides the system roots ($AWS_CA_BUNDLE). */
  awsCaBundlePath?: string;
  logLevel: LogLevel;
}

/** Parses the signer's argv; throws Error with a one-line message on bad input. */
export function parseSignerOptions(argv: string[], env: { get(name: string): string | undefined }): SignerOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      socket: { type: "string" },
      "kms-key": { type: "string", multiple: true },
      "verify-key-file": { type: "string", multiple: true },
      "max-token-expiration": { type: "string" },
      "refresh-hint": { type: "string" },
      "kms-timeout": { type: "string" },
      "log-level": { type: "string" },
    },
  });
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0]}"`);
  const kmsKeys = values["kms-key"] ?? [];
  if (kmsKeys.length === 0) throw new Error(`required flag "--kms-key" is missing`);
  try {
    validateKmsKeyRefs(kmsKeys);
  } catch (e) {
    throw new Error((e as Error).message);
  }
  const socket = values.socket ?? signerSocketPath;
  // kube-apiserver accepts a path or an abstract socket (@name); a relative path would depend on its working dir.
  if (!socket.startsWith("/") && !socket.startsWith("@")) {
    throw new Error(`--socket must be an absolute path, got "${socket}"`);
  }
  const maxMs = duration(values["max-token-expiration"] ?? "24h", "max-token-expiration");
  // The apiserver refuses a signer whose limit is under its own floor for token lifetimes.
  if (maxMs < tokenExpirationSeconds.min * 1000) {
    throw new Error(`--max-token-expiration must be at least ${tokenExpirationSeconds.min / 60}m`);
  }
  const refreshMs = duration(values["refresh-hint"] ?? "10m", "refresh-hint");
  if (refreshMs < 1000) throw new Error(`--refresh-hint must be at least 1s`);
  const kmsTimeoutMs = duration(values["kms-timeout"] ?? "2s", "kms-timeout");
  if (kmsTimeoutMs <= 0) throw new Error(`--kms-timeout must be more than 0`);
  const logLevel = values["log-level"] ?? "info";
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new Error(`--log-level must be debug|info|warn|error`);
  }
  const verifyKeyFiles = values["verify-key-file"] ?? [];
  for (const f of verifyKeyFiles) {
    if (!f.startsWith("/")) throw new Error(`--verify-key-file must be an absolute path, got "${f}"`);
  }
  const caBundle = env.get("AWS_CA_BUNDLE");
  return {
    socket,
    kmsKeys,
    verifyKeyFiles,
    maxTokenExpirationSeconds: Math.floor(maxMs / 1000),
    refreshHintSeconds: Math.floor(refreshMs / 1000),
    kmsTimeoutMs,
    ...(caBundle ? { awsCaBundlePath: caBundle } : {}),
    logLevel: logLevel as LogLevel,
  };
}
