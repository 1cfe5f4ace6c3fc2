import { equal } from "node:assert/strict";
import { leaseIsFree } from "./leader_election.ts";

Deno.test("leaseIsFree() lets a holder renew and others take only expired leases", async (t) => {
  const now = new Date("2026-01-01T00:00:20Z");
  const held = { holderIdentity: "a", leaseDurationSeconds: 15, renewTime: "2026-01-01T00:00:10.000000Z" };
  const cases = [
    { name: "no lease", lease: undefined, id: "b", want: true },
    { name: "released lease", lease: { ...held, holderIdentity: "" }, id: "b", want: true },
    { name: "own lease", lease: held, id: "a", want: true },
    { name: "someone else's live lease", lease: held, id: "b", want: false },
    {
      name: "someone else's expired lease",
      lease: { ...held, renewTime: "2026-01-01T00:00:04.000000Z" },
      id: "b",
      want: true,
    },
  ];
  for (const c of cases) await t.step(c.name, () => equal(leaseIsFree(c.lease, c.id, now), c.want));
});
