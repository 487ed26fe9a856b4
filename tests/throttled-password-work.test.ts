// SPEC §5 "Passwords are the exception": when the username or the IP of an
// admin.login is over its limit, the answer is 429 without the password
// being checked — no yes/no answer, and no scrypt work. The answer is
// covered by tests/failure-audit.test.ts and tests/throttling.test.ts; this
// file covers the work. What it measures is CPU time spent by this process
// (process.cpuUsage counts every thread, libuv's scrypt workers included),
// not speed: a password check costs tens of milliseconds of CPU (scrypt,
// N = 32768, r = 8), a throttled refusal a fraction of one.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createAdminAccount } from "../src/core/admin-accounts";
import { openTestServer, type TestServer } from "./helpers/runtime";

const PASSWORD = "the real admin password";
const IP_LIMIT = 3;
const THROTTLED_TRIES = 10;

let s: TestServer;
before(async () => {
  s = await openTestServer({ SSOD_THROTTLE_IP_LIMIT: String(IP_LIMIT), SSOD_THROTTLE_CREDENTIAL_LIMIT: "1000" });
  await createAdminAccount(s.runtime.core, "root", PASSWORD);
});
after(() => s.close());

const login = (Password: string, ip: string) => s.request("POST", "/api.php", { json: { Command: "admin.login", Username: "root", Password }, ip });

/** CPU microseconds (user + system, every thread of this process) spent by `run`. */
async function cpuOf(run: () => Promise<void>): Promise<number> {
  const start = process.cpuUsage();
  await run();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

test(`${THROTTLED_TRIES} throttled admin.logins together cost less CPU than one password check: the password is not checked`, async (t) => {
  // Warm-up: the first request pays for lazy set-up (the decoy hash, prepared statements).
  assert.equal((await login("warm-up", "192.0.2.1")).status, 401);

  const ip = "192.0.2.2";
  const checks = await cpuOf(async () => {
    for (let i = 0; i < IP_LIMIT; i++) assert.equal((await login(`wrong ${i}`, ip)).status, 401, `failure ${i + 1} is checked`);
  });
  const perCheck = checks / IP_LIMIT;

  const throttled = await cpuOf(async () => {
    for (let i = 0; i < THROTTLED_TRIES; i++) {
      const r = await login(i % 2 ? PASSWORD : `wrong again ${i}`, ip);
      assert.equal(r.status, 429, `try ${i + 1} past the limit`);
      await r.text();
    }
  });
  t.diagnostic(`CPU: ${Math.round(perCheck / 1000)} ms per checked password; ${Math.round(throttled / 1000)} ms for ${THROTTLED_TRIES} throttled tries`);
  assert.ok(
    throttled < perCheck,
    `${THROTTLED_TRIES} throttled tries used ${throttled} µs of CPU, one checked password ${Math.round(perCheck)} µs: the throttled ones ran scrypt`,
  );
});
