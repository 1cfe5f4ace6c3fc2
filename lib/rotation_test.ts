import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { parseJwks, serializeDocument } from "./discovery.ts";
import { IrsaError } from "./errors.ts";
import { generateRsaKeyPair, type Jwk, jwkFromPublicPem } from "./keys.ts";
import {
  defaultRetireGraceMs,
  formatDuration,
  type KnownKey,
  parseDuration,
  parseRotationState,
  planPrepare,
  planRetire,
  planVerify,
  type PrepareObserved,
  retireAllowedAt,
  type RetireObserved,
  type RotationState,
  rotationStatus,
  serializeRotationState,
} from "./rotation.ts";

async function key(): Promise<KnownKey> {
  const pair = await generateRsaKeyPair();
  return { pair, jwk: await jwkFromPublicPem(pair.publicPem) };
}

const [oldKey, newKey, candidate] = [await key(), await key(), await key()];
const oldKid = oldKey.jwk.kid;
const newKid = newKey.jwk.kid;
const jwks = (...keys: Jwk[]) => ({ keys });
const now = "2030-01-02T03:04:05.000Z";
const hour = 3_600_000;
const at = (offsetMs: number) => new Date(Date.parse(now) + offsetMs).toISOString();

function reasonOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof IrsaError) return e.reason;
    throw e;
  }
  return "ok";
}

Deno.test("parseDuration() reads Go-style durations and refuses anything else", async (t) => {
  const cases: [string, number | undefined][] = [
    ["0s", 0],
    ["25h", 25 * hour],
    ["90m", 90 * 60_000],
    ["1h30m", 90 * 60_000],
    ["2d", 48 * hour],
    ["500ms", 500],
    ["", undefined],
    ["5", undefined],
    ["-1h", undefined],
    ["1.5h", undefined],
    ["1 h", undefined],
  ];
  for (const [text, want] of cases) await t.step(JSON.stringify(text), () => equal(parseDuration(text), want));
});

Deno.test("formatDuration() prints the largest units first", () => {
  equal(formatDuration(0), "0s");
  equal(formatDuration(defaultRetireGraceMs), "25h");
  equal(formatDuration(90 * 60_000 + 1500), "1h30m1s500ms");
});

Deno.test("serializeRotationState() and parseRotationState() round-trip every stage", async (t) => {
  const base: RotationState = { stage: "prepared", keySource: "generate", newKid, oldKids: [oldKid], preparedAt: now };
  const cases: RotationState[] = [
    { ...base, stage: "preparing" },
    { ...base, keyFiles: { publicPath: "/k/new.pub", privatePath: "/k/new.key" } },
    { ...base, stage: "switched", switchedAt: at(hour), retireAfter: at(26 * hour) },
    { ...base, keySource: "cluster", stage: "retired", switchedAt: at(hour), retiredAt: at(30 * hour) },
  ];
  for (const c of cases) {
    await t.step(c.stage, () => {
      const text = serializeRotationState(c);
      deepStrictEqual(parseRotationState(text), c);
      equal(serializeRotationState(parseRotationState(text)), text, "stable bytes");
    });
  }
});

Deno.test("parseRotationState() refuses damaged state with a pointer to --force", async (t) => {
  const good = JSON.parse(serializeRotationState({
    stage: "prepared",
    keySource: "cluster",
    newKid,
    oldKids: [],
    preparedAt: now,
  }));
  const cases: [string, string][] = [
    ["not json", "{"],
    ["unknown stage", JSON.stringify({ ...good, stage: "done" })],
    ["no newKid", JSON.stringify({ ...good, newKid: "" })],
    ["oldKids not strings", JSON.stringify({ ...good, oldKids: [1] })],
    ["bad time", JSON.stringify({ ...good, preparedAt: "yesterday" })],
    ["switched without switchedAt", JSON.stringify({ ...good, stage: "switched" })],
    ["keyFiles incomplete", JSON.stringify({ ...good, keyFiles: { publicPath: "/a" } })],
  ];
  for (const [name, text] of cases) {
    await t.step(
      name,
      () =>
        throws(() => parseRotationState(text), (e: IrsaError) =>
          e.reason === "RotationStateDamaged" &&
          e.message.includes("--force")),
    );
  }
});

function generateObserved(over: Partial<PrepareObserved> = {}): PrepareObserved {
  const published = jwks(oldKey.jwk);
  return {
    keySource: "generate",
    state: undefined,
    stateText: undefined,
    bucket: "b",
    publishedText: serializeDocument(published),
    published,
    currentKey: oldKey,
    candidateKey: newKey,
    ...over,
  };
}

Deno.test("planPrepare() in generate mode", async (t) => {
  await t.step("a new rotation records 'preparing' first, keeps the old key, stores the new, publishes both", () => {
    const plan = planPrepare(generateObserved({ files: {} }), { now, force: false, outDir: "/keys/" });
    deepStrictEqual(plan.actions.map((a) => a.kind), [
      "ApplyRotationState",
      "ApplyPreviousKeySecret",
      "ApplyKeySecret",
      "WriteKeyFile",
      "WriteKeyFile",
      "PutObject",
      "ApplyRotationState",
    ]);
    const first = plan.actions[0] as { state: RotationState };
    equal(first.state.stage, "preparing");
    equal(plan.state.stage, "prepared");
    equal(plan.state.newKid, newKid);
    deepStrictEqual(plan.state.oldKids, [oldKid]);
    deepStrictEqual(plan.jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
    const files = plan.actions.filter((a) => a.kind === "WriteKeyFile") as { path: string; mode: number }[];
    deepStrictEqual(files.map((f) => [f.path, f.mode]), [
      [`/keys/irsa-manager-${newKid.slice(0, 8)}.key`, 0o600],
      [`/keys/irsa-manager-${newKid.slice(0, 8)}.pub`, 0o644],
    ]);
    const prev = plan.actions[1] as { key: { privatePem: string } };
    equal(prev.key.privatePem, oldKey.pair.privatePem);
  });

  await t.step("a run that stopped after storing the new key resumes with it", () => {
    const preparing: RotationState = {
      stage: "preparing",
      keySource: "generate",
      newKid,
      oldKids: [oldKid],
      preparedAt: now,
    };
    const plan = planPrepare(
      generateObserved({
        state: preparing,
        stateText: serializeRotationState(preparing),
        currentKey: newKey,
        previousKey: oldKey,
        candidateKey: candidate,
      }),
      { now: at(hour), force: false },
    );
    ok(plan.resumed);
    deepStrictEqual(plan.actions.map((a) => a.kind), ["PutObject", "ApplyRotationState"]);
    equal(plan.state.newKid, newKid, "the candidate is not used");
    equal(plan.state.preparedAt, now, "the original time stays");
  });

  await t.step("a second prepare while prepared changes nothing", () => {
    const prepared: RotationState = {
      stage: "prepared",
      keySource: "generate",
      newKid,
      oldKids: [oldKid],
      preparedAt: now,
    };
    const published = jwks(newKey.jwk, oldKey.jwk);
    const plan = planPrepare(
      generateObserved({
        state: prepared,
        stateText: serializeRotationState(prepared),
        currentKey: newKey,
        previousKey: oldKey,
        published,
        publishedText: serializeDocument(published),
        candidateKey: candidate,
      }),
      { now: at(hour), force: false },
    );
    deepStrictEqual(plan.actions, []);
  });

  await t.step("a Secret changed behind a rotation under way needs --force", () => {
    const prepared: RotationState = {
      stage: "prepared",
      keySource: "generate",
      newKid,
      oldKids: [oldKid],
      preparedAt: now,
    };
    const observed = generateObserved({
      state: prepared,
      stateText: serializeRotationState(prepared),
      currentKey: candidate,
    });
    equal(reasonOf(() => planPrepare(observed, { now, force: false })), "RotationKeyChanged");
    equal(planPrepare(observed, { now, force: true }).state.newKid, newKid);
  });

  await t.step("no key Secret means init did not generate one", () => {
    const { currentKey: _, ...observed } = generateObserved();
    equal(reasonOf(() => planPrepare(observed, { now, force: false })), "KeySecretMissing");
  });

  await t.step("an existing key file with other content needs --force", () => {
    const path = `/k/irsa-manager-${newKid.slice(0, 8)}.key`;
    const observed = generateObserved({ files: { [path]: "other" } });
    equal(reasonOf(() => planPrepare(observed, { now, force: false, outDir: "/k" })), "KeyFileExists");
  });
});

function clusterObserved(over: Partial<PrepareObserved> = {}): PrepareObserved {
  const published = jwks(oldKey.jwk);
  return {
    keySource: "cluster",
    state: undefined,
    stateText: undefined,
    bucket: "b",
    publishedText: serializeDocument(published),
    published,
    apiserverJwks: jwks(oldKey.jwk, newKey.jwk),
    signingKid: oldKid,
    ...over,
  };
}

Deno.test("planPrepare() in cluster mode finds the new kid", async (t) => {
  const cases: { name: string; observed: PrepareObserved; kid?: string; want: string }[] = [
    { name: "the one key not published yet", observed: clusterObserved(), want: newKid },
    {
      name: "already published by the daemon: the one the apiserver does not sign with",
      observed: clusterObserved({ published: jwks(oldKey.jwk, newKey.jwk) }),
      want: newKid,
    },
    {
      name: "no new key",
      observed: clusterObserved({ apiserverJwks: jwks(oldKey.jwk) }),
      want: "NoNewKey",
    },
    {
      name: "two new keys need --kid",
      observed: clusterObserved({ apiserverJwks: jwks(oldKey.jwk, newKey.jwk, candidate.jwk) }),
      want: "AmbiguousNewKey",
    },
    {
      name: "--kid picks one of them",
      observed: clusterObserved({ apiserverJwks: jwks(oldKey.jwk, newKey.jwk, candidate.jwk) }),
      kid: candidate.jwk.kid,
      want: candidate.jwk.kid,
    },
    { name: "--kid must be served", observed: clusterObserved(), kid: "nope", want: "UnknownKid" },
    {
      name: "the apiserver must not sign with it yet",
      observed: clusterObserved({ signingKid: newKid }),
      want: "AlreadySigning",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      let got: string;
      try {
        const plan = planPrepare(c.observed, { now, force: false, ...(c.kid ? { kid: c.kid } : {}) });
        got = plan.state.newKid;
        ok(!plan.state.oldKids.includes(got));
        ok(plan.jwks.keys.some((k) => k.kid === got), "the new key is published");
      } catch (e) {
        got = (e as IrsaError).reason;
      }
      equal(got, c.want);
    });
  }

  await t.step("publishes the apiserver's keys on top of what is published", () => {
    const plan = planPrepare(clusterObserved(), { now, force: false });
    deepStrictEqual(plan.actions.map((a) => a.kind), ["PutObject", "ApplyRotationState"]);
    const body = (plan.actions[0] as { body: string }).body;
    deepStrictEqual(parseJwks(body).keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
    deepStrictEqual(plan.state.oldKids, [oldKid]);
  });
});

const prepared: RotationState = {
  stage: "prepared",
  keySource: "generate",
  newKid,
  oldKids: [oldKid],
  preparedAt: now,
};
const switched: RotationState = {
  ...prepared,
  stage: "switched",
  switchedAt: now,
  retireAfter: at(defaultRetireGraceMs),
};

Deno.test("planVerify() records the first switch and refuses an apiserver still on the old key", async (t) => {
  const cases: { name: string; state: RotationState | undefined; kid: string; want: string }[] = [
    { name: "no rotation", state: undefined, kid: newKid, want: "NotPrepared" },
    { name: "still preparing", state: { ...prepared, stage: "preparing" }, kid: newKid, want: "NotPrepared" },
    { name: "old key signs", state: prepared, kid: oldKid, want: "NotSwitched" },
    { name: "new key signs", state: prepared, kid: newKid, want: `switched@${now}` },
    { name: "verified again keeps the first switch", state: switched, kid: newKid, want: `switched@${now}` },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      let got: string;
      try {
        const s = c.state;
        const plan = planVerify({ state: s, stateText: s && serializeRotationState(s), tokenKid: c.kid }, {
          now: c.state?.stage === "switched" ? at(5 * hour) : now,
          graceMs: defaultRetireGraceMs,
        });
        got = `${plan.state.stage}@${plan.state.switchedAt}`;
        equal(plan.state.retireAfter, at(defaultRetireGraceMs));
      } catch (e) {
        got = (e as IrsaError).reason;
      }
      equal(got, c.want);
    });
  }
});

function retireObserved(state: RotationState | undefined, over: Partial<RetireObserved> = {}): RetireObserved {
  const published = jwks(newKey.jwk, oldKey.jwk);
  return {
    state,
    stateText: state && serializeRotationState(state),
    bucket: "b",
    publishedText: serializeDocument(published),
    published,
    signingKid: newKid,
    previousKeyStored: true,
    ...over,
  };
}

Deno.test("planRetire() decides when the old keys may go", async (t) => {
  const cases: {
    name: string;
    observed: RetireObserved;
    now: string;
    force?: boolean;
    graceMs?: number;
    want: string;
  }[] = [
    { name: "no rotation", observed: retireObserved(undefined), now, want: "NotPrepared" },
    { name: "not verified", observed: retireObserved(prepared), now, want: "NotVerified" },
    { name: "not verified, forced", observed: retireObserved(prepared), now, force: true, want: "retired" },
    { name: "within the grace period", observed: retireObserved(switched), now: at(24 * hour), want: "TooEarly" },
    {
      name: "after the grace period",
      observed: retireObserved(switched),
      now: at(defaultRetireGraceMs),
      want: "retired",
    },
    { name: "--grace 0s", observed: retireObserved(switched), now, graceMs: 0, want: "retired" },
    { name: "early but forced", observed: retireObserved(switched), now, force: true, want: "retired" },
    {
      name: "the apiserver signs with an old key",
      observed: retireObserved(switched, { signingKid: oldKid }),
      now: at(100 * hour),
      want: "RetiringSigningKey",
    },
    {
      name: "the apiserver signs with an old key, even forced",
      observed: retireObserved(prepared, { signingKid: oldKid }),
      now,
      force: true,
      want: "RetiringSigningKey",
    },
    {
      name: "cluster mode: the apiserver still serves the old key",
      observed: retireObserved({ ...switched, keySource: "cluster" }, { apiserverKids: [oldKid, newKid] }),
      now: at(100 * hour),
      want: "OldKeyStillServed",
    },
    {
      name: "cluster mode: the old key file is gone from the apiserver",
      observed: retireObserved({ ...switched, keySource: "cluster" }, { apiserverKids: [newKid] }),
      now: at(100 * hour),
      want: "retired",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      let got: string;
      try {
        const plan = planRetire(c.observed, {
          now: c.now,
          force: c.force ?? false,
          ...(c.graceMs !== undefined ? { graceMs: c.graceMs } : {}),
        });
        got = plan.state.stage;
        deepStrictEqual(plan.jwks.keys.map((k) => k.kid), [newKid], "only the new key stays");
      } catch (e) {
        got = (e as IrsaError).reason;
      }
      equal(got, c.want);
    });
  }

  await t.step("generate mode deletes the previous key Secret; a second retire changes nothing", () => {
    const plan = planRetire(retireObserved(switched), { now, force: false, graceMs: 0 });
    deepStrictEqual(plan.actions.map((a) => a.kind), ["PutObject", "DeletePreviousKeySecret", "ApplyRotationState"]);
    const body = (plan.actions[0] as { body: string }).body;
    const again = planRetire(
      retireObserved(plan.state, { publishedText: body, published: parseJwks(body), previousKeyStored: false }),
      { now: at(hour), force: false },
    );
    deepStrictEqual(again.actions, []);
  });

  await t.step("the refusal says when retiring becomes allowed", () => {
    throws(
      () => planRetire(retireObserved(switched), { now, force: false }),
      (e: Error) => e.message.includes(at(defaultRetireGraceMs)) && e.message.includes("--force"),
    );
  });
});

Deno.test("retireAllowedAt() and rotationStatus() tell when retiring is allowed", async (t) => {
  await t.step("before the switch there is no time", () => equal(retireAllowedAt(prepared), undefined));
  await t.step("the recorded time by default", () => equal(retireAllowedAt(switched)?.toISOString(), at(25 * hour)));
  await t.step("--grace overrides", () => equal(retireAllowedAt(switched, hour)?.toISOString(), at(hour)));
  const cases: { name: string; state: RotationState | undefined; now: string; stage: string; next: RegExp }[] = [
    { name: "none", state: undefined, now, stage: "none", next: /prepare/ },
    { name: "prepared", state: prepared, now, stage: "prepared", next: /verify/ },
    { name: "switched, waiting", state: switched, now, stage: "switched", next: /^wait until/ },
    {
      name: "switched, due",
      state: switched,
      now: at(26 * hour),
      stage: "switched",
      next: /^kubectl irsa rotate-key retire$/,
    },
    {
      name: "retired",
      state: { ...switched, stage: "retired", retiredAt: now },
      now,
      stage: "retired",
      next: /complete/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const s = rotationStatus(c.state, c.now);
      equal(s.stage, c.stage);
      ok(c.next.test(s.next), s.next);
      if (c.stage === "switched") equal(s.retireAllowedAt, at(25 * hour));
    });
  }
});

Deno.test("planPrepare() is deterministic for the same observation", () => {
  const o = generateObserved();
  deepStrictEqual(planPrepare(o, { now, force: false }), planPrepare(o, { now, force: false }));
});
