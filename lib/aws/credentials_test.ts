import { equal } from "node:assert/strict";
import { cachedCredentials } from "./credentials.ts";

Deno.test("cachedCredentials asks once, shares a pending fetch and refreshes five minutes before expiry", async () => {
  let clock = 0;
  let asked = 0;
  const get = cachedCredentials(() => {
    asked++;
    return Promise.resolve({ accessKeyId: `k${asked}`, secretAccessKey: "s", expiration: new Date(clock + 600_000) });
  }, () => clock);
  const [a, b] = await Promise.all([get(), get()]);
  equal(asked, 1);
  equal(a.accessKeyId, "k1");
  equal(b.accessKeyId, "k1");
  clock = 299_000;
  equal((await get()).accessKeyId, "k1");
  clock = 300_001;
  equal((await get()).accessKeyId, "k2");
  equal(asked, 2);
});

Deno.test("cachedCredentials does not cache a failure, and keys without expiry are kept", async () => {
  let fail = true;
  let asked = 0;
  const get = cachedCredentials(() => {
    asked++;
    return fail
      ? Promise.reject(new Error("no credentials"))
      : Promise.resolve({ accessKeyId: "k", secretAccessKey: "s" });
  }, () => 1e12);
  await get().then(() => Promise.reject(new Error("resolved")), (e: Error) => equal(e.message, "no credentials"));
  fail = false;
  equal((await get()).accessKeyId, "k");
  equal((await get()).accessKeyId, "k");
  equal(asked, 2);
});
