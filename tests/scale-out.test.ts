// Many instances on one real libSQL server (sqld): three built ssod
// processes share one store, over HTTP and over WebSocket.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createClient } from "@libsql/client/http";
import { bundledMigrations } from "../src/store/migrations";
import { remoteTransport } from "../src/store/remote-driver";
import { postJson } from "./helpers/http";
import { type ServerProcess, startBuiltServer, startBuiltServers, stopAll } from "./helpers/process";
import { basicAuth } from "./helpers/sources";
import { type Sqld, startSqld } from "./helpers/sqld";

const ADMIN_KEY = `ssod_ak_${"s".repeat(43)}`;
const MASTER_KEY = "5".repeat(64);
const admin = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };

/** POSTs JSON (with the admin key unless told otherwise); the answer's body parsed, null when it is not JSON. */
async function post(url: string, body: unknown, headers: Record<string, string> = admin) {
  const response = await postJson(url, body, headers);
  return { status: response.status, headers: response.headers, body: (await response.json().catch(() => null)) as Record<string, unknown> | null };
}

async function issue(instance: ServerProcess, email: string, extra: Record<string, unknown> = {}) {
  const response = await post(`${instance.url}/v1/tokens`, { user: { email }, ...extra });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body as { token: string; tokenRefNo: string; loginUrl: string };
}

function startInstances(sqld: Sqld, url: string, count: number): Promise<ServerProcess[]> {
  const env = {
    SSOD_DATABASE_URL: url,
    SSOD_DATABASE_AUTH_TOKEN: sqld.token,
    SSOD_MASTER_KEY: MASTER_KEY,
    SSOD_ADMIN_API_KEY: ADMIN_KEY,
    SSOD_STORE_TIMEOUT: "2",
    SSOD_REQUEST_TIMEOUT: "10",
  };
  // All at once: they race for the empty store.
  return startBuiltServers(count, { env });
}

for (const transport of ["http", "ws"] as const) {
  describe(`three instances on one sqld over ${transport}://`, () => {
    let sqld: Sqld;
    let instances: ServerProcess[];
    const [a, b, c] = [() => instances[0]!, () => instances[1]!, () => instances[2]!];

    before(async () => {
      sqld = await startSqld();
      instances = await startInstances(sqld, transport === "http" ? sqld.url : sqld.wsUrl, 3);
    });
    // Whatever before() got to: the instances that started (startBuiltServers stops the others itself), and sqld.
    after(async () => {
      await stopAll(instances ?? [], "SIGKILL");
      await sqld?.stop();
    });

    test("they start together on an empty server and the migrations run once", async () => {
      const migrators = instances.filter((i) => i.stdout().includes('"migrations applied"'));
      assert.equal(migrators.length, 1, "exactly one instance applied the migrations");
      const client = createClient({ url: sqld.url, authToken: sqld.token });
      const tags = await client.execute("SELECT tag FROM ssod_migrations");
      assert.deepEqual(
        tags.rows.map((r) => r.tag),
        bundledMigrations().map((m) => m.tag),
      );
      const defaults = await client.execute("SELECT count(*) AS n FROM sso_sources WHERE code = 'default' AND signing_secret_enc IS NOT NULL");
      assert.equal(defaults.rows[0]!.n, 1);
      const keys = await client.execute("SELECT alg, count(*) AS n FROM signing_keys WHERE retired_at IS NULL GROUP BY alg ORDER BY alg");
      assert.deepEqual(
        keys.rows.map((r) => `${r.alg}: ${r.n}`),
        ["EdDSA: 1", "RS256: 1"],
        "one first signing key per algorithm, whoever won the race",
      );
      const adminKeys = await client.execute("SELECT count(*) AS n FROM admin_keys");
      assert.equal(adminKeys.rows[0]!.n, 1, "SSOD_ADMIN_API_KEY stored once");
      client.close();
    });

    test("concurrent redemptions of the same tokens on all three: each exactly once, no 5xx", async () => {
      const tokens = await Promise.all(Array.from({ length: 40 }, (_, i) => issue(instances[i % 3]!, `race${i}@example.com`)));
      const attempts = tokens.flatMap((t) => instances.map((instance) => post(`${instance.url}/v1/tokens/redeem`, { token: t.token })));
      const results = await Promise.all(attempts);
      assert.ok(
        results.every((r) => r.status < 500),
        `no 5xx: ${results.filter((r) => r.status >= 500).map((r) => JSON.stringify(r.body))}`,
      );
      for (let i = 0; i < tokens.length; i++) {
        const mine = results.slice(i * 3, i * 3 + 3);
        assert.equal(mine.filter((r) => r.status === 200).length, 1, `token ${i} redeemed exactly once`);
        assert.equal(mine.filter((r) => r.status === 400).length, 2);
      }
    });

    if (transport === "http") {
      test("a source created on one issues on another and redeems on the third", async () => {
        const created = await post(`${a().url}/v1/sources`, { code: "shared", name: "Shared", validForSeconds: 300 });
        assert.equal(created.status, 201);
        const basic = basicAuth({ clientId: String(created.body!.clientId), clientSecret: String(created.body!.clientSecret) });
        const issued = await post(`${b().url}/v1/tokens`, { user: { email: "shared@example.com" } }, basic);
        assert.equal(issued.status, 201);
        const redeemed = await post(`${c().url}/v1/tokens/redeem`, { token: issued.body!.token }, basic);
        assert.equal(redeemed.status, 200);
        assert.equal(redeemed.body!.source, "shared");
      });

      test("a session opened on one instance is valid on the others; logout on one ends it everywhere", async () => {
        const issued = await issue(a(), "session@example.com");
        const login = await fetch(issued.loginUrl.replace(/^http:\/\/[^/]+/, a().url), { redirect: "manual" });
        assert.equal(login.status, 200);
        const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
        for (const instance of instances) {
          const session = await fetch(`${instance.url}/v1/session`, { headers: { cookie } });
          assert.equal(session.status, 200);
          assert.equal(((await session.json()) as { user: { email: string } }).user.email, "session@example.com");
        }
        assert.equal((await fetch(`${c().url}/v1/session/logout`, { method: "POST", headers: { cookie } })).status, 204);
        for (const instance of instances) assert.equal((await fetch(`${instance.url}/v1/session`, { headers: { cookie } })).status, 401);
      });

      test("the audit log read from any instance holds the events of all three", async () => {
        await Promise.all(instances.map((instance, i) => issue(instance, `audit-${i}@example.com`)));
        for (const instance of instances) {
          const page = (await (await fetch(`${instance.url}/v1/audit?action=token.issue&limit=500`, { headers: admin })).json()) as {
            items: { detail: { subject: string } }[];
          };
          const subjects = new Set(page.items.map((e) => e.detail.subject));
          for (let i = 0; i < 3; i++) assert.ok(subjects.has(`audit-${i}@example.com`), `instance sees audit-${i}`);
        }
      });

      test("kill -9 of one instance under load loses no acknowledged token", async () => {
        const acknowledged: string[] = [];
        let running = true;
        const clients = Array.from({ length: 12 }, async (_, n) => {
          for (let i = 0; running; i++) {
            const target = instances[(n + i) % 3]!;
            try {
              const r = await post(`${target.url}/v1/tokens`, { user: { email: `load${n}-${i}@example.com` } });
              if (r.status === 201) acknowledged.push(r.body!.token as string);
            } catch {
              // the killed instance drops its connections: not acknowledged, not counted
            }
          }
        });
        await new Promise((r) => setTimeout(r, 800));
        b().kill("SIGKILL");
        await new Promise((r) => setTimeout(r, 400));
        running = false;
        await Promise.all(clients);
        assert.ok(acknowledged.length > 20, `load ran (${acknowledged.length} tokens)`);
        const redeemed = await Promise.all(acknowledged.map((token) => post(`${a().url}/v1/tokens/redeem`, { token })));
        assert.equal(redeemed.filter((r) => r.status === 200).length, acknowledged.length, "every acknowledged token redeems");
      });
    }

    if (transport === "ws") {
      test("libsql:// takes the WebSocket: an instance on libsql://…?tls=0 joins the three", async () => {
        const libsqlUrl = sqld.wsUrl.replace(/^ws:/, "libsql:") + "?tls=0";
        assert.equal(remoteTransport(libsqlUrl), "ws");
        assert.equal(remoteTransport("libsql://db-org.turso.io"), "ws");
        assert.equal(remoteTransport("https://db-org.turso.io"), "http");
        const fourth = await startBuiltServer({
          env: { SSOD_DATABASE_URL: libsqlUrl, SSOD_DATABASE_AUTH_TOKEN: sqld.token, SSOD_MASTER_KEY: MASTER_KEY, SSOD_ADMIN_API_KEY: ADMIN_KEY },
        });
        try {
          const issued = await issue(fourth, "libsql-url@example.com");
          assert.equal((await post(`${a().url}/v1/tokens/redeem`, { token: issued.token })).status, 200);
          assert.equal((await post(`${fourth.url}/v1/tokens/redeem`, { token: issued.token })).status, 400);
        } finally {
          await stopAll([fourth]);
        }
      });
    }

    test("sqld stopped: 503 with Retry-After and /readyz not ready, then recovery with nothing lost", async () => {
      const live = instances.filter((i) => i.child.exitCode === null && i.child.signalCode === null);
      const before = await issue(live[0]!, "before-outage@example.com");
      await sqld.stop();
      for (const instance of live) {
        const started = Date.now();
        const refused = await post(`${instance.url}/v1/tokens`, { user: { email: "outage@example.com" } });
        assert.equal(refused.status, 503, JSON.stringify(refused.body));
        assert.ok(refused.headers.get("retry-after"), "Retry-After");
        assert.ok(Date.now() - started < 10_000, "answered within the request timeout");
        assert.equal((await fetch(`${instance.url}/readyz`)).status, 503);
        const lob = await fetch(`${instance.url}/GenerateSSOToken`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-api-version": "1.0.0", "x-lob-client-id": "someone", authorization: "x" },
          body: "{}",
        });
        assert.ok([502, 504].includes(lob.status), `the LOB dialect answers 502/504 (${lob.status})`);
      }
      await sqld.restart();
      for (const instance of live) {
        let status = 0;
        for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
          status = (await fetch(`${instance.url}/readyz`)).status;
          if (status !== 200) await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(status, 200, "ready again by itself");
      }
      const redeemed = await post(`${live[live.length - 1]!.url}/v1/tokens/redeem`, { token: before.token });
      assert.equal(redeemed.status, 200, "a token acknowledged before the outage survives it");
      assert.equal((await post(`${live[0]!.url}/v1/tokens`, { user: { email: "after@example.com" } })).status, 201);
    });

    const wrongTokenUrls = () => (transport === "http" ? [sqld.url] : [sqld.wsUrl, `${sqld.wsUrl.replace(/^ws:/, "libsql:")}?tls=0`]);
    test("a wrong store token stops start-up at once, naming the variable and not the token", async () => {
      for (const url of wrongTokenUrls()) {
        const started = Date.now();
        const failed = await startBuiltServer({
          env: { SSOD_DATABASE_URL: url, SSOD_DATABASE_AUTH_TOKEN: sqld.wrongToken, SSOD_MASTER_KEY: MASTER_KEY },
          timeoutMs: 10_000,
        }).then(
          // A server that did come up is stopped before the test fails.
          async (server) => {
            await stopAll([server], "SIGKILL");
            assert.fail(`started with a wrong token on ${url}`);
          },
          (error: Error) => error.message,
        );
        assert.ok(Date.now() - started < 8_000, "fails at once");
        assert.match(failed, /exited \(1\)/);
        assert.match(failed, /SSOD_DATABASE_AUTH_TOKEN/);
        assert.ok(!failed.includes(sqld.wrongToken), "the token is not printed");
      }
    });
  });
}
