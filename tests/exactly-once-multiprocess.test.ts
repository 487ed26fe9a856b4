// SPEC §5: "A token is redeemed at most once, even under concurrent
// redemption from several processes sharing the store." Two, then three built
// server processes on one libSQL file. Every token is sent to every process at
// once, through every redemption path (the API with an admin key, the API
// with a source's credentials, the browser landings /v1/login, /tap, /sso),
// while more tokens are being issued through all of them: each token gets
// exactly one success, every other answer is the one "invalid token" answer,
// never a 5xx and never SQLite's "busy" text; a 503 would have to carry
// Retry-After. Both processes win races; a user whose tokens are won in
// several processes at once is created once; the audit log holds one
// token.redeem per token.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { generateAdminKey } from "../src/core/admin-keys";
import { postJson } from "./helpers/http";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { basicAuth } from "./helpers/sources";
import { tempDir } from "./helpers/temp";

const servers: ServerProcess[] = [];
let env: Record<string, string>;
let dir: string;
let adminKey: string;
let basic: Record<string, string>;

const admin = () => ({ authorization: `Bearer ${adminKey}` });

interface Issued {
  token: string;
  tokenRefNo: string;
  email: string;
  kind: "v1" | "tyk-dashboard" | "tyk-portal";
}

interface Outcome {
  status: number;
  body: string;
  retryAfter: string | null;
  route: string;
  server: number;
}

const seen = { requests: 0, fiveHundreds: [] as string[], busyText: [] as string[], unavailableWithoutRetryAfter: [] as string[] };

function check(o: Outcome) {
  seen.requests++;
  if (o.status >= 500) seen.fiveHundreds.push(`${o.route} on #${o.server}: ${o.status} ${o.body.slice(0, 160)}`);
  if (/SQLITE_BUSY|database is locked|SQLITE_LOCKED/i.test(o.body)) seen.busyText.push(`${o.route}: ${o.body.slice(0, 160)}`);
  if (o.status === 503 && !o.retryAfter) seen.unavailableWithoutRetryAfter.push(`${o.route} on #${o.server}`);
}

before(async () => {
  dir = tempDir("ssod-multi-");
  adminKey = generateAdminKey();
  env = {
    SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`,
    SSOD_ADMIN_API_KEY: adminKey,
    SSOD_LOG_LEVEL: "info",
    // Losing a race at a browser landing counts as a failure; these runs are not about throttling.
    SSOD_THROTTLE_IP_LIMIT: "1000000",
  };
  servers.push(await startBuiltServer({ env, dir }));
  // The first made the store (and the master key file beside it); the second shares both.
  assert.ok(existsSync(join(dir, "ssod.db")));
  servers.push(await startBuiltServer({ env, dir }));
  assert.notEqual(servers[0]!.url, servers[1]!.url);
  // A source made through one process issues through the other (issue() asserts every 201).
  const made = await postJson(`${servers[0]!.url}/v1/sources`, { code: "racers", name: "Racers", validForSeconds: 600 }, admin());
  assert.equal(made.status, 201, await made.clone().text());
  basic = basicAuth((await made.json()) as { clientId: string; clientSecret: string });
});

// Every server is stopped, whatever before() or the tests got to; then each must have exited cleanly.
after(async () => {
  await stopAll(servers);
  for (const server of servers) assert.equal(await server.exited, 0, `a server did not exit cleanly\nstderr: ${server.stderr()}`);
});

async function issue(server: number, n: number): Promise<Issued> {
  const base = servers[server]!.url;
  const email = `racer-${n % 25}@example.com`;
  if (n % 5 === 0 || n % 5 === 1) {
    const section = n % 5 === 0 ? "dashboard" : "portal";
    const r = await postJson(`${base}/api/sso`, { emailAddress: email, forSection: section }, admin());
    const body = await r.text();
    check({ status: r.status, body, retryAfter: r.headers.get("retry-after"), route: "POST /api/sso", server });
    assert.equal(r.status, 200, body);
    return { token: (JSON.parse(body) as { Meta: string }).Meta, tokenRefNo: "", email, kind: section === "dashboard" ? "tyk-dashboard" : "tyk-portal" };
  }
  const r = await postJson(`${base}/v1/tokens`, { user: { email, displayName: `Racer ${n % 25}` }, format: n % 2 === 0 ? "jwt" : "nonce" }, basic);
  const body = await r.text();
  check({ status: r.status, body, retryAfter: r.headers.get("retry-after"), route: "POST /v1/tokens", server });
  assert.equal(r.status, 201, body);
  const parsed = JSON.parse(body) as { token: string; tokenRefNo: string };
  return { token: parsed.token, tokenRefNo: parsed.tokenRefNo, email, kind: "v1" };
}

type Route = "api-admin" | "api-source" | "login" | "landing";

/** Redeems through one route of one process; the id of the user it signed in when this attempt won the token, else undefined. */
async function redeem(server: number, t: Issued, route: Route): Promise<string | undefined> {
  const base = servers[server]!.url;
  let r: Response;
  let label: string;
  if (route === "api-admin" || route === "api-source") {
    label = "POST /v1/tokens/redeem";
    r = await postJson(`${base}/v1/tokens/redeem`, { token: t.token }, route === "api-admin" ? admin() : basic);
  } else {
    // A Tyk nonce lands at its own section's page; the others at /v1/login (which takes any).
    const path = route === "landing" && t.kind !== "v1" ? (t.kind === "tyk-dashboard" ? "/tap?nonce=" : "/sso?nonce=") : "/v1/login?token=";
    label = `GET ${path.split("?")[0]}`;
    r = await fetch(`${base}${path}${encodeURIComponent(t.token)}`, { headers: { accept: "application/json" }, redirect: "manual" });
  }
  const body = await r.text();
  check({ status: r.status, body, retryAfter: r.headers.get("retry-after"), route: label, server });
  if (r.status === 200) {
    const parsed = JSON.parse(body) as { tokenRefNo: string; user: { id: string; email: string } };
    // A Tyk answer gives no tokenRefNo to compare with; a v1 token's must come back.
    if (t.kind === "v1") assert.equal(parsed.tokenRefNo, t.tokenRefNo);
    else assert.match(parsed.tokenRefNo, /^\d+$/);
    assert.equal(parsed.user.email, t.email);
    assert.equal(typeof parsed.user.id, "string");
    return parsed.user.id;
  }
  if (r.status === 400) {
    // The one indistinguishable refusal, in the route's shape.
    if (label.startsWith("POST"))
      assert.deepEqual(JSON.parse(body), { type: "urn:ssod:problem:invalid-token", title: "Invalid or expired token", status: 400 });
    else if (label === "GET /v1/login")
      assert.deepEqual(JSON.parse(body), { type: "urn:ssod:problem:invalid-token", title: "Invalid or expired token", status: 400 });
    else assert.deepEqual(JSON.parse(body), { errors: [{ title: "Bad Request", detail: "Invalid or expired token" }] });
    return undefined;
  }
  assert.fail(`${label} on #${server}: unexpected ${r.status} ${body.slice(0, 200)}`);
}

const ROUTES: Route[] = ["api-admin", "api-source", "login", "landing"];

/** Sends every token to every process at once (each through a different route), while `background` issues more. */
async function race(tokens: Issued[], label: string, t: { diagnostic(message: string): void }) {
  const n = servers.length;
  const wins = new Map<Issued, number>();
  const winsByProcess = new Map<number, number>();
  const usersByEmail = new Map<string, Set<string>>();
  // More issuing while the races run: writers from every process contend for the file.
  let issuing = true;
  let issuedMeanwhile = 0;
  const background = Promise.all(
    servers.map(async (_, s) => {
      for (let i = 0; issuing; i++) {
        await issue(s, 10_000 + s * 1_000 + i);
        issuedMeanwhile++;
      }
    }),
  );
  await Promise.all(
    tokens.map(async (token, i) => {
      const attempts = Array.from({ length: n }, async (_, k) => {
        const server = (i + k) % n;
        const user = await redeem(server, token, ROUTES[(i + k) % ROUTES.length]!);
        if (user === undefined) return false;
        winsByProcess.set(server, (winsByProcess.get(server) ?? 0) + 1);
        usersByEmail.set(token.email, (usersByEmail.get(token.email) ?? new Set()).add(user));
        return true;
      });
      wins.set(token, (await Promise.all(attempts)).filter(Boolean).length);
    }),
  );
  issuing = false;
  await background;
  const byWins = new Map<number, number>();
  for (const w of wins.values()) byWins.set(w, (byWins.get(w) ?? 0) + 1);
  t.diagnostic(
    `${label}: ${tokens.length} tokens × ${n} processes = ${tokens.length * n} concurrent redemptions, ${issuedMeanwhile} tokens issued meanwhile; ` +
      `tokens by number of wins: ${JSON.stringify(Object.fromEntries(byWins))}; wins by process: ${JSON.stringify(Object.fromEntries(winsByProcess))}`,
  );
  return { wins, winsByProcess, usersByEmail };
}

/** Each email resolved to one user, however many processes won its tokens at once; and the directory holds each once. */
async function assertOneUserPerEmail(usersByEmail: Map<string, Set<string>>) {
  assert.equal(usersByEmail.size, 25);
  for (const [email, ids] of usersByEmail) assert.equal(ids.size, 1, `${email} resolved to ${ids.size} users`);
  const users = (await (await fetch(`${servers.at(-1)!.url}/v1/users?q=racer-&limit=500`, { headers: admin() })).json()) as { items: { email: string }[] };
  const emails = users.items.map((u) => u.email);
  assert.equal(new Set(emails).size, emails.length, "a user was created twice");
  assert.equal(emails.length, 25);
}

/** The token.redeem rows of the audit log, read through the first process, by target (the token's reference number). */
async function redeemAudit(): Promise<Map<string, number>> {
  const byTarget = new Map<string, number>();
  let cursor: string | null = null;
  do {
    const page = (await (
      await fetch(`${servers[0]!.url}/v1/audit?action=token.redeem&limit=500${cursor ? `&cursor=${cursor}` : ""}`, { headers: admin() })
    ).json()) as {
      items: { target: string }[];
      nextCursor: string | null;
    };
    for (const item of page.items) byTarget.set(item.target, (byTarget.get(item.target) ?? 0) + 1);
    cursor = page.nextCursor;
  } while (cursor);
  return byTarget;
}

function assertClean() {
  assert.deepEqual(seen.busyText, [], "SQLite's busy text reached a client");
  assert.deepEqual(seen.unavailableWithoutRetryAfter, [], "a 503 without Retry-After");
  assert.deepEqual(seen.fiveHundreds.slice(0, 10), [], `${seen.fiveHundreds.length} answers were 5xx`);
}

test("two processes: every token redeemed exactly once, whichever process and route; both win races, one user per email, one token.redeem each", {
  timeout: 60_000,
}, async (t) => {
  const tokens = await Promise.all(Array.from({ length: 400 }, (_, i) => issue(i % 2, i)));
  const v1 = tokens.filter((tok) => tok.kind === "v1");
  assert.equal(new Set(v1.map((tok) => tok.tokenRefNo)).size, v1.length, "a tokenRefNo was handed out twice");
  const { wins, winsByProcess, usersByEmail } = await race(tokens, "two processes", t);
  const wrong = [...wins].filter(([, w]) => w !== 1).map(([tok, w]) => `${tok.kind} ${tok.tokenRefNo || tok.token.slice(0, 10)}: ${w} wins`);
  assert.deepEqual(wrong, [], "each token must be won exactly once");
  // Both processes won some races: they really shared the work.
  assert.equal(winsByProcess.size, 2, `wins per process: ${JSON.stringify([...winsByProcess])}`);
  await assertOneUserPerEmail(usersByEmail);
  // The audit log holds one token.redeem per token, the v1 ones under their own reference numbers.
  const audited = await redeemAudit();
  assert.equal(audited.size, tokens.length);
  assert.deepEqual(
    [...audited].filter(([, n]) => n !== 1),
    [],
    "a token.redeem row per redemption, not per attempt",
  );
  assert.deepEqual(
    v1.filter((tok) => !audited.has(tok.tokenRefNo)).map((tok) => tok.tokenRefNo),
    [],
  );
  assertClean();
});

test("three processes: overlapping sets, each token sent to all three at once", { timeout: 60_000 }, async (t) => {
  servers.push(await startBuiltServer({ env, dir }));
  assert.equal(new Set(servers.map((s) => s.url)).size, 3);
  // Overlapping sets: every process gets every token, in a different order each.
  const tokens = await Promise.all(Array.from({ length: 600 }, (_, i) => issue(i % 3, 1_000 + i)));
  const { wins, usersByEmail } = await race(tokens, "three processes", t);
  const wrong = [...wins].filter(([, w]) => w !== 1).map(([tok, w]) => `${tok.kind} ${tok.tokenRefNo || tok.token.slice(0, 10)}: ${w} wins`);
  assert.deepEqual(wrong, [], "each token must be won exactly once");

  // A second wave on the same tokens: nothing more to win anywhere.
  const again = await Promise.all(tokens.slice(0, 60).map((tok, i) => Promise.all(servers.map((_, s) => redeem(s, tok, ROUTES[(i + s) % ROUTES.length]!)))));
  assert.equal(again.flat().filter((user) => user !== undefined).length, 0, "a consumed token was won again");

  // Introspection agrees through every process: nothing is active.
  for (const [s] of servers.entries()) {
    for (const tok of tokens.slice(0, 30)) {
      const r = await postJson(`${servers[s]!.url}/v1/tokens/introspect`, { token: tok.token }, admin());
      assert.deepEqual(await r.json(), { active: false });
    }
  }

  // One user per email, though their tokens were won in three processes at once.
  await assertOneUserPerEmail(usersByEmail);
  t.diagnostic(`requests tried over both tests: ${seen.requests}; 5xx: ${seen.fiveHundreds.length}; busy text: ${seen.busyText.length}`);
  assertClean();
});
