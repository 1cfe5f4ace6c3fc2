import { deepStrictEqual, equal } from "node:assert/strict";
import { type CertPolicy, decideCerts, type ObservedCerts } from "./cert_rotation.ts";

const day = 86_400_000;
const t0 = new Date("2026-01-01T00:00:00Z");
const at = (days: number) => new Date(t0.getTime() + days * day);
const policy: CertPolicy = { caDays: 365, leafDays: 30, renewAtRemaining: 1 / 3 };
const sans = ["kubectl-irsa.irsa-manager-system.svc", "127.0.0.1"];
const healthy: ObservedCerts = {
  ca: { notBefore: t0, notAfter: at(365) },
  leaf: { notBefore: t0, notAfter: at(30), sans, signedByCurrentCa: true },
  retiredCas: [],
};

Deno.test("decideCerts() renews before expiry and on change, never more", async (t) => {
  const cases: { name: string; observed: ObservedCerts; now: Date; want: [boolean, boolean] }[] = [
    { name: "nothing yet: new CA and leaf", observed: { retiredCas: [] }, now: t0, want: [true, true] },
    { name: "fresh certificates: nothing", observed: healthy, now: at(1), want: [false, false] },
    { name: "leaf with 11 days left: nothing", observed: healthy, now: at(19), want: [false, false] },
    { name: "leaf with 10 days left: new leaf", observed: healthy, now: at(20), want: [false, true] },
    { name: "expired leaf: new leaf", observed: healthy, now: at(40), want: [false, true] },
    { name: "CA with a third left: new CA and leaf", observed: healthy, now: at(244), want: [true, true] },
    {
      name: "names changed: new leaf",
      observed: { ...healthy, leaf: { ...healthy.leaf!, sans: ["127.0.0.1"] } },
      now: at(1),
      want: [false, true],
    },
    {
      name: "leaf of an older CA: new leaf",
      observed: { ...healthy, leaf: { ...healthy.leaf!, signedByCurrentCa: false } },
      now: at(1),
      want: [false, true],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const d = decideCerts(c.observed, sans, c.now, policy);
      deepStrictEqual([d.newCa, d.newLeaf], c.want);
    });
  }
});

Deno.test("decideCerts() drops retired CAs only once expired and schedules the next check", () => {
  const observed = { ...healthy, retiredCas: [{ notAfter: at(5) }, { notAfter: at(50) }] };
  const d = decideCerts(observed, sans, at(10), policy);
  deepStrictEqual(d.dropRetired, [0]);
  equal(d.nextCheck.getTime(), at(20).getTime());
});
