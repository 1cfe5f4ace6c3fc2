// The IAM OIDC provider thumbprint. IAM wants the SHA-1 of the top intermediate CA that the issuer host
// presents; since 2024 it is optional and ignored for S3-hosted issuers, but self-hosted issuers on other hosts
// still depend on it, and reconcile compares it instead of overwriting, so it must be computed the same way
// every time.

import { createHash } from "node:crypto";
import * as tls from "node:tls";
import { invalid, IrsaError } from "./errors.ts";
import { validateIssuerUrl } from "./issuer.ts";
import { parseCertificate } from "./pki.ts";

function sha1Hex(der: Uint8Array): string {
  return createHash("sha1").update(der).digest("hex");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function isSelfSigned(der: Uint8Array): boolean {
  const info = parseCertificate(der);
  return sameBytes(info.subjectDer, info.issuerDer);
}

/**
 * The IAM thumbprint of a TLS chain: lower-case hex SHA-1 over the DER of the top intermediate CA, that is the
 * last certificate after the leaf that is not self-signed. A chain of only the leaf and a root yields the root.
 * A chain of only the leaf yields the leaf itself, since its issuer was not presented and cannot be hashed.
 *
 * @param chainDer DER certificates leaf first, as a TLS server presents them, possibly ending with the root.
 */
export function topIntermediateThumbprint(chainDer: Uint8Array[]): string {
  const [leaf, ...above] = chainDer;
  if (leaf === undefined) throw invalid("EmptyCertificateChain", "The TLS server presented no certificate");
  if (above.length === 0) return sha1Hex(leaf);
  const intermediates = above.filter((der) => !isSelfSigned(der));
  const top = intermediates.at(-1) ?? above[0]!;
  return sha1Hex(top);
}

/** Options of {@link fetchIssuerThumbprint}. */
export interface FetchThumbprintOptions {
  /** An extra trusted CA (PEM) for private issuer hosts; the system roots stay trusted too. */
  caPem?: string;
  /** Gives up after this many milliseconds of connecting or handshaking; default 10000. */
  timeoutMs?: number;
}

type PeerCert = { raw?: Uint8Array; issuerCertificate?: PeerCert | null };

// node:tls links the verified chain through issuerCertificate, ending at a root that points to itself.
function chainOf(peer: PeerCert): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<PeerCert>();
  for (let c: PeerCert | null | undefined = peer; c && !seen.has(c) && c.raw !== undefined; c = c.issuerCertificate) {
    seen.add(c);
    out.push(new Uint8Array(c.raw));
  }
  return out;
}

// OpenSSL verification failures and Node's host name check; anything else is a network failure.
const untrustedCode =
  /^(ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|HOSTNAME_MISMATCH)/;

/**
 * Connects to the issuer's host with TLS (SNI set to the host), verifies its certificate and returns
 * {@link topIntermediateThumbprint} of the chain it presented. Throws IrsaError unavailable `IssuerTlsUntrusted`
 * when verification fails and `IssuerUnreachable` when the host cannot be reached in time.
 */
export function fetchIssuerThumbprint(issuerUrl: string, options: FetchThumbprintOptions = {}): Promise<string> {
  const url = new URL(validateIssuerUrl(issuerUrl));
  const host = url.hostname;
  const port = url.port === "" ? 443 : Number(url.port);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const isIp = /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      // RFC 6066 forbids an IP address as server name.
      ...(isIp ? {} : { servername: host }),
      ...(options.caPem === undefined ? {} : { ca: [...tls.rootCertificates, options.caPem] }),
    });
    const fail = (e: IrsaError) => {
      socket.destroy();
      reject(e);
    };
    socket.setTimeout(timeoutMs, () => {
      fail(
        new IrsaError(
          "unavailable",
          "IssuerUnreachable",
          `Timed out after ${timeoutMs} ms connecting to ${host}:${port}`,
        ),
      );
    });
    socket.once("error", (e: Error & { code?: string }) => {
      const code = e.code ?? "";
      if (untrustedCode.test(code)) {
        fail(
          new IrsaError(
            "unavailable",
            "IssuerTlsUntrusted",
            `The TLS certificate of ${host}:${port} is not trusted: ${e.message}` +
              (code === "ERR_TLS_CERT_ALTNAME_INVALID"
                ? ""
                : "; pass its CA bundle if the issuer host uses a private CA"),
            { cause: e },
          ),
        );
      } else {
        fail(
          new IrsaError("unavailable", "IssuerUnreachable", `Cannot connect to ${host}:${port}: ${e.message}`, {
            cause: e,
          }),
        );
      }
    });
    socket.once("secureConnect", () => {
      try {
        const chain = chainOf(socket.getPeerCertificate(true) as PeerCert);
        socket.end();
        resolve(topIntermediateThumbprint(chain));
      } catch (e) {
        socket.destroy();
        reject(e);
      }
    });
  });
}
