// When the webhook's CA and serving certificate must be replaced. Pure: the caller passes the clock.

/** Validity windows of the webhook's certificates. */
export interface CertPolicy {
  caDays: number;
  leafDays: number;
  /** Renew a certificate once less than this share of its lifetime is left. */
  renewAtRemaining: number;
  /**
   * How long a new CA sits in the published bundle before it signs anything: the time the apiserver (every
   * replica) needs to see the new caBundle. Until then the old CA's serving certificate stays in use.
   */
  caHandoverMs: number;
}

/** The default policy: a one-year CA and 30-day serving certificates renewed with a third left. */
export const defaultCertPolicy: CertPolicy = {
  caDays: 365,
  leafDays: 30,
  renewAtRemaining: 1 / 3,
  caHandoverMs: 5 * 60_000,
};

interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** What the daemon holds now. */
export interface ObservedCerts {
  /** The CA that signs the serving certificate; undefined when there is none (or its key is lost). */
  ca?: Validity;
  /** A successor CA already in the bundle but not signing yet, and when it was published. */
  stagedCa?: Validity & { stagedAt: Date };
  leaf?: Validity & { sans: string[]; signedByCurrentCa: boolean };
  /** Earlier CAs still in the bundle, with their expiry. */
  retiredCas: { notAfter: Date }[];
}

/**
 * What to do with the CA: keep it; create one and sign with it at once (there is none that clients trust, so
 * nothing to overlap with); stage a successor in the bundle; or promote the staged one to signing.
 */
export type CaAction = "keep" | "create" | "stage" | "promote";

/** What to do. */
export interface CertDecision {
  ca: CaAction;
  newLeaf: boolean;
  /** Retired CAs that have expired and can leave the bundle, by index into `retiredCas`. */
  dropRetired: number[];
  /** When to look again. */
  nextCheck: Date;
}

function dueAt(v: Validity, policy: CertPolicy): Date {
  const life = v.notAfter.getTime() - v.notBefore.getTime();
  return new Date(v.notAfter.getTime() - life * policy.renewAtRemaining);
}

function caAction(observed: ObservedCerts, now: Date, policy: CertPolicy): CaAction {
  const { ca, stagedCa } = observed;
  if (!ca || ca.notAfter <= now) return stagedCa && stagedCa.notAfter > now ? "promote" : "create";
  if (stagedCa) return now.getTime() >= stagedCa.stagedAt.getTime() + policy.caHandoverMs ? "promote" : "keep";
  return now >= dueAt(ca, policy) ? "stage" : "keep";
}

/**
 * Decides renewals. A successor CA is published next to the current one before it signs the serving certificate,
 * and the old CA stays in the bundle until it expires, so no client ever sees a certificate it cannot verify. The
 * leaf is renewed well before expiry, whenever its names change, and when a new CA takes over.
 */
export function decideCerts(
  observed: ObservedCerts,
  wantSans: string[],
  now: Date,
  policy = defaultCertPolicy,
): CertDecision {
  const ca = caAction(observed, now, policy);
  const leaf = observed.leaf;
  const sansDiffer = !leaf || [...leaf.sans].sort().join(",") !== [...wantSans].sort().join(",");
  const newLeaf = ca === "create" || ca === "promote" || !leaf || !leaf.signedByCurrentCa || sansDiffer ||
    now >= dueAt(leaf, policy);
  const dropRetired = observed.retiredCas.flatMap((c, i) => (c.notAfter <= now ? [i] : []));
  const day = 86_400_000;
  const fresh = (days: number) => now.getTime() + days * day * (1 - policy.renewAtRemaining);
  const caCheck = ca === "create" || ca === "promote"
    ? fresh(policy.caDays)
    : ca === "stage"
    ? now.getTime() + policy.caHandoverMs
    : observed.stagedCa
    ? observed.stagedCa.stagedAt.getTime() + policy.caHandoverMs
    : dueAt(observed.ca!, policy).getTime();
  const checks = [
    caCheck,
    newLeaf ? fresh(policy.leafDays) : dueAt(leaf!, policy).getTime(),
    ...observed.retiredCas.filter((c) => c.notAfter > now).map((c) => c.notAfter.getTime()),
  ];
  return { ca, newLeaf, dropRetired, nextCheck: new Date(Math.max(now.getTime(), Math.min(...checks))) };
}
