// SPEC §5: "A token is redeemed at most once, even under concurrent
// redemption from several processes sharing the store." Two built server
// processes on one libSQL file race for the same 300 tokens.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { generateAdminKey } from "../src/core/admin-keys";
import { startBuiltServer, type ServerProcess } from "./helpers/process";
import { tempDir } from "./helpers/temp";

const TOKENS = 300;
const EMAILS = 30; // 10 tokens per user: user creation races across processes too

let one: ServerProcess;
let two: ServerProcess;
let adminKey: string;
let shared: string;

const admin = () => ({ authorization: `Bearer ${adminKey}`, "content-type": "application/json" });

async function post(base: string, path: string, json: unknown, headers: Record<string, string> = admin()) {
  return fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(json) });
}

before(async () => {
  shared = tempDir("ssod-shared-");
  adminKey = generateAdminKey();
  const env = { SSOD_DATABASE_URL: `file:${join(shared, "ssod.db")}`, SSOD_ADMIN_API_KEY: adminKey, SSOD_LOG_LEVEL: "info" };
  one = await startBuiltServer({ env });
  // The first made the store and the master key file beside it; the second shares both.
  assert.ok(existsSync(join(shared, "ssod.db")));
  two = await startBuiltServer({ env });
  assert.notEqual(one.url, two.url);
});

after(async () => {
  for (const server of [one, two]) {
    if (!server) continue;
    server.kill("SIGTERM");
    assert.equal(await server.exited, 0, `exit code\nstderr: ${server.stderr()}`);
  }
});

test("two processes sharing one store: each of 300 tokens redeemed exactly once, never a 5xx", { timeout: 120_000 }, async () => {
  // A source made through one process is seen by the other.
  const created = await post(one.url, "/v1/sources", { code: "shared", name: "Shared", validForSeconds: 600 });
  assert.equal(created.status, 201, await created.clone().text());
  const source = (await created.json()) as { clientId: string; clientSecret: string };
  const basic = { authorization: `Basic ${Buffer.from(`${source.clientId}:${source.clientSecret}`).toString("base64")}`, "content-type": "application/json" };

  // Issue through both processes.
  const issued: { token: string; tokenRefNo: string; email: string }[] = [];
  for (let start = 0; start < TOKENS; start += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, TOKENS - start) }, async (_, i) => {
        const n = start + i;
        const email = `racer-${n % EMAILS}@example.com`;
        const r = await post(n % 2 === 0 ? one.url : two.url, "/v1/tokens", { user: { email } }, basic);
        assert.equal(r.status, 201, await r.clone().text());
        const body = (await r.json()) as { token: string; tokenRefNo: string };
        return { ...body, email };
      }),
    );
    issued.push(...batch);
  }
  assert.equal(new Set(issued.map((t) => t.tokenRefNo)).size, TOKENS);

  // Every token to both processes at once, the order of the pair alternating.
  const attempts = issued.flatMap((t, i) => {
    const pair = [one.url, two.url];
    if (i % 2 === 1) pair.reverse();
    return pair.map((base) => ({ t, base }));
  });
  const results = await Promise.all(
    attempts.map(async ({ t, base }) => {
      const r = await post(base, "/v1/tokens/redeem", { token: t.token });
      return { t, base, status: r.status, body: (await r.json()) as Record<string, unknown> };
    }),
  );

  const fiveHundreds = results.filter((r) => r.status >= 500);
  assert.deepEqual(fiveHundreds.map((r) => `${r.status} ${JSON.stringify(r.body)}`), [], "no 5xx");
  const wins = new Map<string, number>();
  const userByEmail = new Map<string, Set<string>>();
  const winsByProcess = new Map<string, number>();
  for (const r of results) {
    if (r.status === 200) {
      wins.set(r.t.tokenRefNo, (wins.get(r.t.tokenRefNo) ?? 0) + 1);
      winsByProcess.set(r.base, (winsByProcess.get(r.base) ?? 0) + 1);
      assert.equal(r.body.tokenRefNo, r.t.tokenRefNo);
      const user = r.body.user as { id: string; email: string };
      const ids = userByEmail.get(r.t.email) ?? new Set();
      ids.add(user.id);
      userByEmail.set(r.t.email, ids);
    } else {
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.deepEqual(r.body, { type: "urn:ssod:problem:invalid-token", title: "Invalid or expired token", status: 400 });
    }
  }
  assert.equal(wins.size, TOKENS, "every token redeemed once");
  assert.ok([...wins.values()].every((n) => n === 1), "no token redeemed twice");
  assert.equal(results.filter((r) => r.status === 400).length, TOKENS);
  // Both processes did win some races (they really shared the work).
  assert.equal(winsByProcess.size, 2, `wins per process: ${JSON.stringify([...winsByProcess])}`);

  // One user per email, though its tokens were redeemed in both processes at once.
  assert.equal(userByEmail.size, EMAILS);
  for (const [email, ids] of userByEmail) assert.equal(ids.size, 1, `${email} resolved to ${ids.size} users`);
  const users = (await (await fetch(`${two.url}/v1/users?q=racer-&limit=500`, { headers: admin() })).json()) as { items: { email: string }[] };
  assert.equal(users.items.length, EMAILS);

  // The audit log, read through either process, holds one token.redeem per token.
  const redeemed = new Map<string, number>();
  let cursor: string | null = null;
  do {
    const page: { items: { target: string }[]; nextCursor: string | null } = (await (
      await fetch(`${one.url}/v1/audit?action=token.redeem&source=shared&limit=500${cursor ? `&cursor=${cursor}` : ""}`, { headers: admin() })
    ).json()) as { items: { target: string }[]; nextCursor: string | null };
    for (const item of page.items) redeemed.set(item.target, (redeemed.get(item.target) ?? 0) + 1);
    cursor = page.nextCursor;
  } while (cursor);
  assert.equal(redeemed.size, TOKENS);
  assert.ok([...redeemed.values()].every((n) => n === 1));
});
