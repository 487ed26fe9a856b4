// Admin keys (SPEC §3, §5 "Admin keys"): `GET/POST /v1/admin-keys` and
// `DELETE /v1/admin-keys/{id}` in process, `ssod admin-key list|revoke` and a
// server started on a revoked SSOD_ADMIN_API_KEY as real processes. A
// revoked key gets 401 in every dialect; revoking twice changes nothing; the
// last key not revoked is kept; every key stored, the first-start one
// included, has its audit row, written once however many instances start.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../src/config";
import { authenticateAdminKey } from "../src/core/admin-keys";
import { listAudit } from "../src/core/audit";
import { sha256 } from "../src/core/crypto";
import { openCore } from "../src/runtime";
import { ssod } from "./helpers/cli";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { tempDir } from "./helpers/temp";

type Json = Record<string, unknown>;
interface KeyJson {
  id: number;
  name: string;
  createdAt: string;
  revokedAt: string | null;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;
const KEY = /^ssod_ak_[A-Za-z0-9_-]{43}$/;

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function call(s: TestServer, method: string, path: string, key: string, json?: unknown): Promise<{ status: number; body: Json; text: string }> {
  const r = await s.request(method, path, { headers: bearer(key), ...(json === undefined ? {} : { json }) });
  const text = await r.text();
  return { status: r.status, body: text ? (JSON.parse(text) as Json) : {}, text };
}

async function createKey(s: TestServer, name: string, by = s.adminKey): Promise<KeyJson & { key: string }> {
  const r = await call(s, "POST", "/v1/admin-keys", by, { name });
  assert.equal(r.status, 201, r.text);
  return r.body as unknown as KeyJson & { key: string };
}

async function auditRows(s: TestServer, action: string) {
  const r = await call(s, "GET", `/v1/audit?action=${action}`, s.adminKey);
  assert.equal(r.status, 200, r.text);
  return r.body.items as { actor: string; target: string | null; ip: string | null; detail: Json | null }[];
}

// ---------------------------------------------------------------------------
describe("/v1/admin-keys", () => {
  let s: TestServer;
  before(async () => {
    s = await openTestServer();
  });
  after(() => s.close());

  test("POST makes a key that works at once, shown this once; GET lists every key, never a key or a hash", async () => {
    const created = await createKey(s, "  ci  ");
    assert.match(created.key, KEY);
    assert.equal(created.name, "ci", "the name is trimmed");
    assert.match(created.createdAt, ISO);
    assert.equal(created.revokedAt, null);
    assert.deepEqual(Object.keys(created).sort(), ["createdAt", "id", "key", "name", "revokedAt"]);

    const listed = await call(s, "GET", "/v1/admin-keys", created.key);
    assert.equal(listed.status, 200, "the new key works");
    assert.equal(listed.body.nextCursor, null);
    const items = listed.body.items as KeyJson[];
    assert.deepEqual(
      items.map((k) => [k.id, k.name]),
      [
        [1, "SSOD_ADMIN_API_KEY"],
        [created.id, "ci"],
      ],
    );
    for (const item of items) assert.deepEqual(Object.keys(item).sort(), ["createdAt", "id", "name", "revokedAt"]);
    for (const secret of [s.adminKey, created.key, sha256(s.adminKey), sha256(created.key)])
      assert.ok(!listed.text.includes(secret), "no key and no hash in the list");
  });

  test("a name is required: 1 to 100 characters, and nothing else in the body", async () => {
    for (const json of [{}, { name: "" }, { name: "   " }, { name: "x".repeat(101) }, { name: "ci", key: "ssod_ak_mine" }]) {
      const r = await call(s, "POST", "/v1/admin-keys", s.adminKey, json);
      assert.equal(r.status, 400, `${JSON.stringify(json)}: ${r.text}`);
    }
  });

  test("only an admin key may call them", async () => {
    assert.equal((await s.request("GET", "/v1/admin-keys")).status, 401);
    const source = await call(s, "POST", "/v1/sources", s.adminKey, { code: "keys_src", name: "Keys", validForSeconds: 60 });
    const { clientId, clientSecret } = source.body as { clientId: string; clientSecret: string };
    const basic = { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}` };
    assert.equal((await s.request("GET", "/v1/admin-keys", { headers: basic })).status, 403);
    assert.equal((await s.request("POST", "/v1/admin-keys", { headers: basic, json: { name: "sneaky" } })).status, 403);
  });
});

// ---------------------------------------------------------------------------
describe("DELETE /v1/admin-keys/{id}", () => {
  let s: TestServer;
  before(async () => {
    s = await openTestServer();
  });
  after(() => s.close());

  test("revokes: the key then gets 401 on /v1, at Tyk's /api/sso and /admin/sso, and as api.php's APIKey", async () => {
    const doomed = await createKey(s, "doomed");
    const tyk = (path: string, headers: Record<string, string>) => s.request("POST", path, { headers, json: { emailAddress: "k@example.com" } });
    const tykHeaders = [bearer(doomed.key), { authorization: doomed.key }, { "admin-auth": doomed.key }];
    const legacy = () => s.request("POST", "/api.php", { json: { Command: "sso.list", APIKey: doomed.key } });
    // It works everywhere first.
    assert.equal((await s.request("GET", "/v1/sources", { headers: bearer(doomed.key) })).status, 200);
    for (const path of ["/api/sso", "/admin/sso"]) for (const headers of tykHeaders) assert.equal((await tyk(path, headers)).status, 200, path);
    assert.equal((await legacy()).status, 200);

    const revoked = await call(s, "DELETE", `/v1/admin-keys/${doomed.id}`, s.adminKey);
    assert.equal(revoked.status, 200, revoked.text);
    assert.deepEqual(
      { ...revoked.body, revokedAt: undefined },
      { id: doomed.id, name: "doomed", createdAt: doomed.createdAt, revokedAt: undefined, alreadyRevoked: false, usedByThisRequest: false },
    );
    assert.match(String(revoked.body.revokedAt), ISO);

    for (const path of ["/v1/sources", "/v1/admin-keys", "/v1/audit"])
      assert.equal((await s.request("GET", path, { headers: bearer(doomed.key) })).status, 401, path);
    for (const path of ["/api/sso", "/admin/sso"]) {
      for (const headers of tykHeaders) {
        const r = await tyk(path, headers);
        assert.equal(r.status, 401, path);
        assert.ok(Array.isArray(((await r.json()) as { errors: unknown }).errors), "Tyk's error shape");
      }
    }
    const refused = await legacy();
    assert.equal(refused.status, 401);
    assert.deepEqual(await refused.json(), { Success: false, ErrorCode: [102], ErrorText: ["Authentication failed"] });

    const listed = (await call(s, "GET", "/v1/admin-keys", s.adminKey)).body.items as KeyJson[];
    assert.equal(listed.find((k) => k.id === doomed.id)?.revokedAt, revoked.body.revokedAt, "listed, with revokedAt");
  });

  test("revoking a revoked key changes nothing and says so; an unknown id is 404, a malformed one 400", async () => {
    const key = await createKey(s, "twice");
    const first = await call(s, "DELETE", `/v1/admin-keys/${key.id}`, s.adminKey);
    assert.equal(first.status, 200);
    const second = await call(s, "DELETE", `/v1/admin-keys/${key.id}`, s.adminKey);
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.alreadyRevoked, true);
    assert.equal(second.body.revokedAt, first.body.revokedAt, "the first revocation's time stays");
    const audited = (await auditRows(s, "admin_key.revoke")).filter((row) => row.target === "twice");
    assert.equal(audited.length, 1, "one revocation, one audit row");

    const unknown = await call(s, "DELETE", "/v1/admin-keys/999", s.adminKey);
    assert.equal(unknown.status, 404, unknown.text);
    assert.match(String(unknown.body.detail), /no admin key 999/);
    for (const id of ["abc", "-1", "1.5"]) assert.equal((await call(s, "DELETE", `/v1/admin-keys/${id}`, s.adminKey)).status, 400, id);
  });
});

// ---------------------------------------------------------------------------
describe("revoking the key in hand, and the last key", () => {
  test("a key may revoke itself (the answer says so, its next request is 401); the last key not revoked is refused with 409", async () => {
    const s = await openTestServer();
    try {
      const second = await createKey(s, "second");
      const third = await createKey(s, "third");
      // The key from SSOD_ADMIN_API_KEY goes, by another key.
      assert.equal((await call(s, "DELETE", "/v1/admin-keys/1", second.key)).status, 200);
      const self = await call(s, "DELETE", `/v1/admin-keys/${second.id}`, second.key);
      assert.equal(self.status, 200, self.text);
      assert.equal(self.body.usedByThisRequest, true);
      assert.equal((await call(s, "GET", "/v1/admin-keys", second.key)).status, 401, "the next request with it");

      const last = await call(s, "DELETE", `/v1/admin-keys/${third.id}`, third.key);
      assert.equal(last.status, 409, last.text);
      assert.equal(last.body.type, "urn:ssod:problem:conflict");
      assert.match(String(last.body.detail), /only one not revoked: create another first/);
      assert.equal((await call(s, "GET", "/v1/admin-keys", third.key)).status, 200, "the last key still works");

      // With another key made, it can go.
      const fourth = await createKey(s, "fourth", third.key);
      assert.equal((await call(s, "DELETE", `/v1/admin-keys/${third.id}`, fourth.key)).status, 200);
    } finally {
      await s.close();
    }
  });

  test("two admins revoking the last two keys at once: one succeeds, one is refused", async () => {
    const s = await openTestServer();
    try {
      const other = await createKey(s, "other");
      const [a, b] = await Promise.all([call(s, "DELETE", "/v1/admin-keys/1", other.key), call(s, "DELETE", `/v1/admin-keys/${other.id}`, s.adminKey)]);
      assert.deepEqual([a.status, b.status].sort(), [200, 409], `${a.text} ${b.text}`);
      const items = (await call(s, "GET", "/v1/admin-keys", a.status === 200 ? other.key : s.adminKey)).body.items as KeyJson[];
      assert.equal(items.filter((k) => k.revokedAt === null).length, 1, "one key still works");
    } finally {
      await s.close();
    }
  });
});

// ---------------------------------------------------------------------------
describe("audit", () => {
  test("create and revoke are audited with who, from where, the name and the id; never a key or a hash", async () => {
    const s = await openTestServer();
    try {
      const key = await s.request("POST", "/v1/admin-keys", { headers: bearer(s.adminKey), json: { name: "audited" }, ip: "198.51.100.7" });
      const created = (await key.json()) as KeyJson & { key: string };
      await s.request("DELETE", `/v1/admin-keys/${created.id}`, { headers: bearer(s.adminKey), ip: "198.51.100.8" });
      const [create] = (await auditRows(s, "admin_key.create")).filter((row) => row.target === "audited");
      assert.deepEqual(create, { ...create, actor: "admin_key:1", ip: "198.51.100.7", detail: { id: created.id } });
      const [revoke] = await auditRows(s, "admin_key.revoke");
      assert.deepEqual(revoke, { ...revoke, actor: "admin_key:1", target: "audited", ip: "198.51.100.8", detail: { id: created.id } });
      const log = (await call(s, "GET", "/v1/audit?limit=500", s.adminKey)).text;
      for (const secret of [s.adminKey, created.key, sha256(s.adminKey), sha256(created.key)]) assert.ok(!log.includes(secret));
    } finally {
      await s.close();
    }
  });

  test("the SSOD_ADMIN_API_KEY key is audited when stored, once however many starts", async () => {
    const s = await openTestServer();
    await s.close();
    const again = loadConfig({ SSOD_DATABASE_URL: `file:${join(s.dir, "ssod.db")}`, SSOD_ADMIN_API_KEY: s.adminKey, SSOD_LOG_LEVEL: "silent" });
    const { store, core } = await openCore(again);
    try {
      const rows = (await listAudit(core, { limit: 50, action: "admin_key.create" })).events;
      assert.deepEqual(
        rows.map((r) => [r.actor, r.target, r.detail]),
        [["system", "SSOD_ADMIN_API_KEY", { id: 1 }]],
      );
    } finally {
      await store.close();
    }
  });

  test('the first-start key has its audit row (actor system, target "first start"): instances starting together make one key and one row', async () => {
    const dir = tempDir();
    const config = loadConfig({ SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`, SSOD_LOG_LEVEL: "silent" });
    const opened = await Promise.all([openCore(config), openCore(config), openCore(config)]);
    try {
      const printed = opened.map((o) => o.bootstrap.firstAdminKey).filter((k) => k !== undefined);
      assert.equal(printed.length, 1, "one instance got the key to print");
      const { core } = opened[0]!;
      assert.ok(await authenticateAdminKey(core, printed[0]!), "and it works");
      const rows = (await listAudit(core, { limit: 50, action: "admin_key.create" })).events;
      assert.deepEqual(
        rows.map((r) => [r.actor, r.target, r.outcome, r.detail]),
        [["system", "first start", "success", { id: 1 }]],
      );
    } finally {
      for (const o of opened) await o.store.close();
    }
  });
});

// ---------------------------------------------------------------------------
describe("a revoked SSOD_ADMIN_API_KEY", () => {
  test("stops the server from starting (exit 2, with the date and the way out), stays revoked, and `admin-key create` still makes its successor", async () => {
    const s = await openTestServer();
    const successor = await createKey(s, "successor");
    const revoked = await call(s, "DELETE", "/v1/admin-keys/1", successor.key);
    assert.equal(revoked.status, 200);
    await s.close();
    const env = { SSOD_DATABASE_URL: `file:${join(s.dir, "ssod.db")}`, SSOD_ADMIN_API_KEY: s.adminKey };

    const serve = await ssod([], { env: { ...env, SSOD_PORT: "0", SSOD_HOST: "127.0.0.1" }, timeoutMs: 20_000 });
    assert.equal(serve.signal, null, `exits by itself rather than serving: ${serve.stderr}`);
    assert.equal(serve.code, 2, serve.stderr);
    const on = String(revoked.body.revokedAt);
    assert.ok(
      serve.stderr.includes(
        `SSOD_ADMIN_API_KEY: this key was revoked on ${on}; remove it from the configuration or make a new one with \`ssod admin-key create\``,
      ),
      serve.stderr,
    );
    assert.ok(!serve.stderr.includes(s.adminKey) && !serve.stdout.includes(s.adminKey), "the key is never echoed");

    const made = await ssod(["admin-key", "create", "--name", "after"], { env });
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout.trim(), KEY);

    const list = await ssod(["admin-key", "list"], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^1 +SSOD_ADMIN_API_KEY +\\S+ +${on.replace(/\.\d{3}Z$/, "Z")}$`, "m"), `still revoked:\n${list.stdout}`);
  });
});

// ---------------------------------------------------------------------------
describe("ssod admin-key list and revoke", () => {
  const key = `ssod_ak_${"k".repeat(43)}`;
  let env: Record<string, string>;
  let dir: string;
  let laptop: string;
  before(async () => {
    dir = tempDir();
    env = { SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`, SSOD_ADMIN_API_KEY: key };
    assert.equal((await ssod(["migrate"], { env })).code, 0, "the CLI works on an existing store only");
    const made = await ssod(["admin-key", "create", "--name", "alice's laptop"], { env });
    assert.equal(made.code, 0, made.stderr);
    laptop = made.stdout.trim();
  });

  test("`list` is a table of id, name, created and revoked; never a key or a hash", async () => {
    const r = await ssod(["admin-key", "list"], { env });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^ID +NAME +CREATED +REVOKED$/);
    assert.match(lines[1]!, /^1 +SSOD_ADMIN_API_KEY +\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z +-$/);
    assert.match(lines[2]!, /^2 +alice's laptop +\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z +-$/);
    assert.equal(lines.length, 3);
    for (const secret of [key, laptop, sha256(key), sha256(laptop)]) assert.ok(!r.stdout.includes(secret));
  });

  test("`revoke ID`: exit 0, again exit 0 (already revoked), an unknown id exit 1, the last key exit 1, a malformed id exit 2", async () => {
    const first = await ssod(["admin-key", "revoke", "2"], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, "revoked admin key 2 (alice's laptop)\n");
    const again = await ssod(["admin-key", "revoke", "2"], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^admin key 2 \(alice's laptop\) was already revoked on \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\n$/);

    const unknown = await ssod(["admin-key", "revoke", "99"], { env });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no admin key 99/);
    const last = await ssod(["admin-key", "revoke", "1"], { env });
    assert.equal(last.code, 1);
    assert.match(last.stderr, /only one not revoked: create another first/);
    const malformed = await ssod(["admin-key", "revoke", "two"], { env });
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /ID must be a key's number/);

    const list = await ssod(["admin-key", "list"], { env });
    assert.match(list.stdout, /^2 +alice's laptop +\S+ +\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/m, "listed as revoked");
    assert.match(list.stdout, /^1 +SSOD_ADMIN_API_KEY +\S+ +-$/m, "the last key kept");

    const { store, core } = await openCore(loadConfig(env));
    try {
      assert.equal(await authenticateAdminKey(core, laptop), undefined, "the revoked key authenticates nothing");
      const rows = (await listAudit(core, { limit: 50 })).events.filter((e) => e.action.startsWith("admin_key."));
      assert.deepEqual(
        rows.map((r) => [r.actor, r.action, r.target]),
        [
          ["cli", "admin_key.revoke", "alice's laptop"],
          ["cli", "admin_key.create", "alice's laptop"],
          ["system", "admin_key.create", "SSOD_ADMIN_API_KEY"],
        ],
      );
    } finally {
      await store.close();
    }
  });

  test("`admin-key revoke --help` and the main help name the commands", async () => {
    const help = await ssod(["--help"]);
    assert.match(help.stdout, /ssod admin-key list/);
    assert.match(help.stdout, /ssod admin-key revoke ID/);
    const own = await ssod(["admin-key", "revoke", "--help"]);
    assert.equal(own.code, 0);
    assert.match(own.stdout, /^Usage: ssod admin-key revoke ID/);
  });
});
