// When the webhook's CA and serving certificate must be replaced. Pure: the caller passes the clock.

/** Validity windows of the webhook's certificates. */
export interface CertPolicy {
  caDays: number;
  leafDays: number;
  /** Renew a certificate once less than this share of its lifetime is left. */
  renewAtRemaining: number;
}

/** The default policy: a one-year CA and 30-day serving certificates renewed with 10 days left. */
export const defaultCertPolicy: CertPolicy = { caDays: 365, leafDays: 30, renewAtRemaining: 1 / 3 };

/** What the daemon holds now. */
export interface ObservedCerts {
  /** The CA that signs the serving certificate; undefined when there is none yet. */
  ca?: { notBefore: Date; notAfter: Date };
  leaf?: { notBefore: Date; notAfter: Date; sans: string[]; signedByCurrentCa: boolean };
  /** Earlier CAs still in the bundle, with their expiry. */
  retiredCas: { notAfter: Date }[];
}

/** What to do. */
export interface CertDecision {
  newCa: boolean;
  newLeaf: boolean;
  /** Retired CAs that have expired and can leave the bundle, by index into `retiredCas`. */
  dropRetired: number[];
  /** When to look again. */
  nextCheck: Date;
}

function dueAt(v: { notBefore: Date; notAfter: Date }, policy: CertPolicy): Date {
  const life = v.notAfter.getTime() - v.notBefore.getTime();
  return new Date(v.notAfter.getTime() - life * policy.renewAtRemaining);
}

/**
 * Decides renewals. A new CA is added to the bundle next to the old one (which stays until it expires), so callers
 * that cached the old bundle keep trusting serving certificates for the old CA's remaining life; the leaf is
 * renewed well before expiry, whenever its names change, or when a new CA takes over.
 */
export function decideCerts(
  observed: ObservedCerts,
  wantSans: string[],
  now: Date,
  policy = defaultCertPolicy,
): CertDecision {
  const newCa = !observed.ca || now >= dueAt(observed.ca, policy);
  const leaf = observed.leaf;
  const sansDiffer = !leaf || [...leaf.sans].sort().join(",") !== [...wantSans].sort().join(",");
  const newLeaf = newCa || !leaf || !leaf.signedByCurrentCa || sansDiffer || now >= dueAt(leaf, policy);
  const dropRetired = observed.retiredCas.flatMap((c, i) => (c.notAfter <= now ? [i] : []));
  const day = 86_400_000;
  const caNext = newCa
    ? now.getTime() + policy.caDays * day * (1 - policy.renewAtRemaining)
    : dueAt(observed.ca!, policy).getTime();
  const leafNext = newLeaf
    ? now.getTime() + policy.leafDays * day * (1 - policy.renewAtRemaining)
    : dueAt(leaf!, policy).getTime();
  const retiredNext = observed.retiredCas.filter((c) => c.notAfter > now).map((c) => c.notAfter.getTime());
  return { newCa, newLeaf, dropRetired, nextCheck: new Date(Math.min(caNext, leafNext, ...retiredNext)) };
}
