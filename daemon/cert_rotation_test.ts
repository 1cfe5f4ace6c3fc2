import { deepStrictEqual, equal } from "node:assert/strict";
import { type CaAction, type CertPolicy, decideCerts, type ObservedCerts } from "./cert_rotation.ts";

const day = 86_400_000;
const t0 = new Date("2026-01-01T00:00:00Z");
const at = (days: number) => new Date(t0.getTime() + days * day);
const handover = 5 * 60_000;
const policy: CertPolicy = { caDays: 365, leafDays: 30, renewAtRemaining: 1 / 3, caHandoverMs: handover };
const sans = ["kubectl-irsa.irsa-manager-system.svc", "127.0.0.1"];
const healthy: ObservedCerts = {
  ca: { notBefore: t0, notAfter: at(365) },
  leaf: { notBefore: t0, notAfter: at(30), sans, signedByCurrentCa: true },
  retiredCas: [],
};
const staged = (stagedAt: Date): ObservedCerts => ({
  ...healthy,
  stagedCa: { notBefore: stagedAt, notAfter: new Date(stagedAt.getTime() + 365 * day), stagedAt },
});

Deno.test("decideCerts() renews before expiry and on change, never more", async (t) => {
  const cases: { name: string; observed: ObservedCerts; now: Date; want: [CaAction, boolean] }[] = [
    { name: "nothing yet: new CA and leaf at once", observed: { retiredCas: [] }, now: t0, want: ["create", true] },
    { name: "fresh certificates: nothing", observed: healthy, now: at(1), want: ["keep", false] },
    { name: "leaf with 11 days left: nothing", observed: healthy, now: at(19), want: ["keep", false] },
    { name: "leaf with 10 days left: new leaf", observed: healthy, now: at(20), want: ["keep", true] },
    { name: "expired leaf: new leaf", observed: healthy, now: at(40), want: ["keep", true] },
    {
      name: "CA with a third left: a successor is staged, the leaf stays",
      observed: { ...healthy, leaf: { ...healthy.leaf!, notBefore: at(240), notAfter: at(270) } },
      now: at(244),
      want: ["stage", false],
    },
    {
      name: "staged CA within the handover: nothing, even though the CA is due",
      observed: { ...staged(at(244)), leaf: { ...healthy.leaf!, notBefore: at(240), notAfter: at(270) } },
      now: new Date(at(244).getTime() + handover - 1),
      want: ["keep", false],
    },
    {
      name: "staged CA after the handover: promoted, with a new leaf",
      observed: staged(at(244)),
      now: new Date(at(244).getTime() + handover),
      want: ["promote", true],
    },
    {
      name: "expired CA with a staged successor: promoted at once",
      observed: staged(at(300)),
      now: at(366),
      want: ["promote", true],
    },
    {
      name: "expired CA and nothing staged: a new CA at once",
      observed: healthy,
      now: at(366),
      want: ["create", true],
    },
    {
      name: "CA key lost (no CA observed) but a leaf: a new CA at once",
      observed: { ...healthy, ca: undefined } as unknown as ObservedCerts,
      now: at(1),
      want: ["create", true],
    },
    {
      name: "names changed: new leaf",
      observed: { ...healthy, leaf: { ...healthy.leaf!, sans: ["127.0.0.1"] } },
      now: at(1),
      want: ["keep", true],
    },
    {
      name: "leaf of an older CA: new leaf",
      observed: { ...healthy, leaf: { ...healthy.leaf!, signedByCurrentCa: false } },
      now: at(1),
      want: ["keep", true],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const observed = { ...c.observed };
      if (observed.ca === undefined) delete observed.ca;
      const d = decideCerts(observed, sans, c.now, policy);
      deepStrictEqual([d.ca, d.newLeaf], c.want);
    });
  }
});

Deno.test("decideCerts() drops retired CAs only once expired and schedules the next check", async (t) => {
  await t.step("retired CAs and the leaf", () => {
    const observed = { ...healthy, retiredCas: [{ notAfter: at(5) }, { notAfter: at(50) }] };
    const d = decideCerts(observed, sans, at(10), policy);
    deepStrictEqual(d.dropRetired, [0]);
    equal(d.nextCheck.getTime(), at(20).getTime());
  });
  await t.step("a staged CA is looked at again when its handover ends, not before", () => {
    const now = at(244);
    const stagedNow = decideCerts(
      { ...healthy, leaf: { ...healthy.leaf!, notBefore: at(240), notAfter: at(270) } },
      sans,
      now,
      policy,
    );
    equal(stagedNow.nextCheck.getTime(), now.getTime() + handover);
    const waiting = decideCerts(
      { ...staged(now), leaf: { ...healthy.leaf!, notBefore: at(240), notAfter: at(270) } },
      sans,
      new Date(now.getTime() + 1000),
      policy,
    );
    equal(waiting.nextCheck.getTime(), now.getTime() + handover);
  });
});
