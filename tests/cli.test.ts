// The command line (SPEC §4): `node --import tsx src/main.ts …` as a real
// process — version, help, configuration errors that name the setting (and
// never echo a secret), `migrate`, `admin-key create`, `admin create` with the
// password on stdin (the key and the account then work against the built
// dist/ssod.mjs serving the same store file), `backup` of a running store and
// a restore from it, and the master key file of a restored store; `app
// create` with its access rule; the store each command works on, and the
// refusal to make one by accident. Exit codes: 0 success, 1 failure, 2 bad
// usage or configuration.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, ssod } from "./helpers/cli";
import { BUILT, runBuilt, type ServerProcess, startBuiltServer, startBuiltServers, stopAll } from "./helpers/process";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { tempDir } from "./helpers/temp";

const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

const dbIn = (dir: string) => join(dir, "ssod.db");

// ---------------------------------------------------------------------------
describe("version and help", () => {
  test("`version` and `--version` print the package version", async () => {
    for (const args of [["version"], ["--version"]]) {
      const r = await ssod(args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${VERSION}\n`);
      assert.equal(r.stderr, "");
    }
  });

  test("`--help` lists the commands and the configuration, and touches no store", async () => {
    const dir = tempDir();
    const r = await ssod(["--help"], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}` } });
    assert.equal(r.code, 0, r.stderr);
    for (const word of [
      "Usage",
      "serve",
      "migrate",
      "admin-key create",
      "admin create",
      "version",
      "SSOD_DATABASE_URL",
      "SSOD_PORT",
      "SSOD_MASTER_KEY",
      "SSOD_ADMIN_API_KEY",
    ]) {
      assert.ok(r.stdout.includes(word), `--help mentions ${word}`);
    }
    assert.ok(!existsSync(dbIn(dir)), "no store made by --help");
  });

  test("`admin-key create --help` shows that command's usage and its --name option", async () => {
    const dir = tempDir();
    const r = await ssod(["admin-key", "create", "--help"], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}` } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Usage: ssod admin-key create --name NAME/);
    assert.match(r.stdout, /--name\b/);
    assert.doesNotMatch(r.stdout, /ssod_ak_[A-Za-z0-9_-]{43}/, "no key made by --help");
    assert.ok(!existsSync(dbIn(dir)), "no store made by --help");
  });

  test("an unknown command, or a missing required option: exit 2 with a usage message", async () => {
    const unknown = await ssod(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /frobnicate/);
    assert.match(unknown.stderr, /--help/);
    const dir = tempDir();
    const noName = await ssod(["admin-key", "create"], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}` } });
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /--name/);
    assert.equal(noName.stdout, "");
  });

  test("`ssod <group> --help` prints the group's commands; an unknown command of a group prints them too, as bad usage", async () => {
    const help = await ssod(["app", "--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: ssod app <command>/);
    assert.match(help.stdout, /ssod app create --name NAME/);
    const keys = await ssod(["admin-key", "--help"]);
    assert.equal(keys.code, 0, keys.stderr);
    for (const command of ["create", "list", "revoke"]) assert.match(keys.stdout, new RegExp(`ssod admin-key ${command}`));
    const unknown = await ssod(["webhook", "list"]);
    assert.equal(unknown.code, 2);
    assert.doesNotMatch(unknown.stderr, /unknown command/);
    assert.match(unknown.stderr, /webhook list/);
    assert.match(unknown.stderr, /ssod webhook create --url URL/);
    assert.equal(unknown.stdout, "");
  });
});

// ---------------------------------------------------------------------------
describe("configuration errors", () => {
  test("SSOD_PORT=abc: exit 2, stderr names SSOD_PORT and the expected form", async () => {
    const dir = tempDir();
    const r = await ssod(["migrate"], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}`, SSOD_PORT: "abc" } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /SSOD_PORT/);
    assert.match(r.stderr, /integer from 0 to 65535/);
    assert.match(r.stderr, /abc/);
    assert.ok(!existsSync(dbIn(dir)), "nothing done with a bad configuration");
  });

  test("serve with SSOD_PORT=70000 refuses to start, naming SSOD_PORT", async () => {
    const dir = tempDir();
    const r = await ssod([], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}`, SSOD_PORT: "70000" }, timeoutMs: 20_000 });
    assert.equal(r.code, 2, `${r.signal} ${r.stderr}`);
    assert.match(r.stderr, /SSOD_PORT/);
    assert.match(r.stderr, /integer from 0 to 65535/);
  });

  test("--port abc: the flag is named", async () => {
    const dir = tempDir();
    const r = await ssod(["migrate", "--port", "abc"], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}` } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--port/);
  });

  test("a bad SSOD_MASTER_KEY is named but its value never echoed", async () => {
    const dir = tempDir();
    for (const value of ["NotTheRightShape-SuperSecret-0123456789", "!".repeat(43), "zz".repeat(32)]) {
      const r = await ssod(["migrate"], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}`, SSOD_MASTER_KEY: value } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /SSOD_MASTER_KEY/);
      assert.match(r.stderr, /43 base64url characters or 64 hex digits/);
      assert.ok(!r.stderr.includes(value), `value echoed: ${r.stderr}`);
      assert.ok(!r.stdout.includes(value));
    }
  });

  test("a bad SSOD_ADMIN_API_KEY is named but never echoed", async () => {
    const dir = tempDir();
    const value = "ssod_ak_tooShortButSecret";
    const r = await ssod(["migrate"], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}`, SSOD_ADMIN_API_KEY: value } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /SSOD_ADMIN_API_KEY/);
    assert.ok(!r.stderr.includes(value));
  });

  test("several bad settings are all reported at once", async () => {
    const r = await ssod(["migrate"], { env: { SSOD_DATABASE_URL: "postgres://x", SSOD_PORT: "-1", SSOD_LOG_LEVEL: "loud" } });
    assert.equal(r.code, 2);
    for (const name of ["SSOD_DATABASE_URL", "SSOD_PORT", "SSOD_LOG_LEVEL"]) assert.match(r.stderr, new RegExp(name));
  });

  test("a remote store without SSOD_MASTER_KEY: serve and admin-key create refuse, naming SSOD_MASTER_KEY", async () => {
    const env = { SSOD_DATABASE_URL: "http://127.0.0.1:9", SSOD_PORT: "0", SSOD_HOST: "127.0.0.1" };
    const serve = await ssod([], { env, timeoutMs: 20_000 });
    assert.equal(serve.signal, null, "exits by itself rather than serving");
    assert.equal(serve.code, 2, "a configuration error");
    assert.match(serve.stderr, /SSOD_MASTER_KEY/);
    const key = await ssod(["admin-key", "create", "--name", "x"], { env, timeoutMs: 20_000 });
    assert.equal(key.code, 2);
    assert.match(key.stderr, /SSOD_MASTER_KEY/);
    assert.doesNotMatch(key.stdout, /ssod_ak_/);
  });

  test("migrate against an unreachable remote store exits non-zero naming SSOD_DATABASE_URL", async () => {
    const r = await ssod(["migrate"], { env: { SSOD_DATABASE_URL: "http://127.0.0.1:9" }, timeoutMs: 30_000 });
    assert.equal(r.signal, null);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /SSOD_DATABASE_URL/, r.stderr);
  });
});

// ---------------------------------------------------------------------------
describe("migrate", () => {
  test("applies the migrations on a new store, then says up to date", async () => {
    const dir = tempDir();
    const env = { SSOD_DATABASE_URL: `file:${dbIn(dir)}` };
    const first = await ssod(["migrate"], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /0000_init/);
    assert.doesNotMatch(first.stdout, /up to date/);
    assert.ok(existsSync(dbIn(dir)));
    const second = await ssod(["migrate"], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /up to date/);
    assert.doesNotMatch(second.stdout, /applied/);
  });
});

// ---------------------------------------------------------------------------
describe("admin-key create and admin create, then the built server", () => {
  let dir: string;
  let env: Record<string, string>;
  let key: string;
  let server: ServerProcess | undefined;

  before(async () => {
    dir = tempDir();
    env = { SSOD_DATABASE_URL: `file:${dbIn(dir)}` };
    assert.equal((await ssod(["migrate"], { env })).code, 0);
  });
  after(async () => {
    await stopAll([server]);
  });

  test("`admin-key create --name ci` prints exactly one ssod_ak_ key, stored only as a hash", async () => {
    const r = await ssod(["admin-key", "create", "--name", "ci"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ssod_ak_[A-Za-z0-9_-]{43}\n$/);
    key = r.stdout.trim();
    assert.ok(!r.stderr.includes(key), "the key is printed once, on stdout");
    assert.ok(!readFileSync(dbIn(dir)).includes(key), "key stored in the clear");
    // A second key is a different one.
    const again = await ssod(["admin-key", "create", "--name", "ci-2"], { env });
    assert.equal(again.code, 0);
    assert.notEqual(again.stdout.trim(), key);
  });

  test("`admin create --username bob` reads the password from stdin", async () => {
    const r = await ssod(["admin", "create", "--username", "bob"], { env, input: "correct horse battery staple\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /bob/);
    assert.ok(!r.stdout.includes("correct horse"), "password echoed");
    assert.ok(!r.stderr.includes("correct horse"), "password echoed");
    assert.ok(!readFileSync(dbIn(dir)).includes("correct horse battery staple"), "password stored in the clear");
  });

  test("`admin create`: a duplicate username or a short password is refused", async () => {
    const dup = await ssod(["admin", "create", "--username", "bob"], { env, input: "another long password\n" });
    assert.equal(dup.code, 1, "a failure, not bad usage");
    assert.match(dup.stderr, /bob/);
    const short = await ssod(["admin", "create", "--username", "carol"], { env, input: "short\n" });
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /password/i);
    assert.ok(!short.stderr.includes("short\n"));
  });

  test("the built server on the same file accepts the key and bob's password", async () => {
    assert.ok(key, "the key test ran first");
    server = await startBuiltServer({ env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}`, SSOD_LOG_LEVEL: "warn" } });
    const post = (json: unknown) =>
      fetch(`${server!.url}/api.php`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(json) });

    const list = await post({ Command: "sso.list", APIKey: key });
    assert.equal(list.status, 200);
    const listed = (await list.json()) as { Success: boolean; Sources: { SourceCode: string }[] };
    assert.equal(listed.Success, true);
    assert.ok(listed.Sources.some((x) => x.SourceCode === "default"));

    const created = await post({ Command: "sso.create", APIKey: key, SourceName: "CLI", SourceCode: "from_cli_key", ValidForSeconds: 60 });
    const createdBody = (await created.json()) as Record<string, unknown>;
    assert.equal(created.status, 200, JSON.stringify(createdBody));
    assert.deepEqual(Object.keys(createdBody), ["Success", "ErrorCode", "ErrorText", "SSOSourceID"]);

    const v1 = await fetch(`${server.url}/v1/sources/from_cli_key`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(v1.status, 200);

    const login = await post({ Command: "admin.login", Username: "bob", Password: "correct horse battery staple" });
    const loginBody = (await login.json()) as { Success: boolean; SessionID: string };
    assert.equal(login.status, 200, JSON.stringify(loginBody));
    assert.equal(loginBody.Success, true);
    const bySession = await post({ Command: "sso.get", SessionID: loginBody.SessionID, SourceID: createdBody.SSOSourceID });
    const got = (await bySession.json()) as { Success: boolean; Source: { SourceCode: string } };
    assert.equal(got.Success, true);
    assert.equal(got.Source.SourceCode, "from_cli_key");

    const wrong = await post({ Command: "admin.login", Username: "bob", Password: "not the password" });
    assert.equal(wrong.status, 401);

    // No first admin key is generated for a store that already has one.
    assert.doesNotMatch(server.stderr(), /ssod_ak_/);
    // The server logs no secret.
    for (const secret of [key, loginBody.SessionID, "correct horse battery staple"]) {
      assert.ok(!server.stdout().includes(secret));
      assert.ok(!server.stderr().includes(secret));
    }
  });
});

// ---------------------------------------------------------------------------
describe("backup, restore and the master key file", () => {
  const adminKey = `ssod_ak_${"r".repeat(43)}`;
  const sourceCodes = async (server: ServerProcess) => {
    const r = await fetch(`${server.url}/v1/sources`, { headers: { authorization: `Bearer ${adminKey}` } });
    assert.equal(r.status, 200);
    return ((await r.json()) as { items: { code: string }[] }).items.map((i) => i.code).sort();
  };

  test("`backup FILE` copies a running store; a server on the copy (or on the stopped store's file alone), with the key file beside it, serves its sources", async () => {
    const live = await startBuiltServer({ env: { SSOD_ADMIN_API_KEY: adminKey } });
    const backup = join(tempDir(), "backup.db");
    try {
      const created = await fetch(`${live.url}/v1/sources`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
        body: JSON.stringify({ code: "backed-up", name: "Backed up", validForSeconds: 60 }),
      });
      assert.equal(created.status, 201);
      const r = await ssod(["backup", backup], { env: { SSOD_DATABASE_URL: `file:${join(live.dir, "data", "ssod.db")}` } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /backed up/);
    } finally {
      live.kill("SIGTERM");
      await live.exited;
    }
    // From the backup, and from the database file alone, copied after the stop:
    // a stopped store is one self-contained file (its WAL folded back in).
    for (const copy of [backup, join(live.dir, "data", "ssod.db")]) {
      const restored = tempDir();
      mkdirSync(join(restored, "data"));
      copyFileSync(copy, join(restored, "data", "ssod.db"));
      copyFileSync(join(live.dir, "data", "master.key"), join(restored, "data", "master.key"));
      const server = await startBuiltServer({ dir: restored, env: { SSOD_ADMIN_API_KEY: adminKey } });
      try {
        assert.deepEqual(await sourceCodes(server), ["backed-up", "default"], copy);
      } finally {
        server.kill("SIGTERM");
        await server.exited;
      }
    }
  });

  test("a store restored without its master key file is refused, naming the file, and no new key is made", async () => {
    const first = await startBuiltServer({ env: { SSOD_ADMIN_API_KEY: adminKey } });
    first.kill("SIGTERM");
    await first.exited;
    const restored = tempDir();
    mkdirSync(join(restored, "data"));
    copyFileSync(join(first.dir, "data", "ssod.db"), join(restored, "data", "ssod.db"));
    const r = await ssod(["admin-key", "create", "--name", "x"], { env: { SSOD_DATABASE_URL: `file:${join(restored, "data", "ssod.db")}` } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /master\.key is missing/);
    assert.ok(!existsSync(join(restored, "data", "master.key")), "no new key file that could not open the secrets");
    assert.deepEqual(
      readdirSync(join(restored, "data")).filter((f) => f.startsWith("master")),
      [],
    );
  });

  test("four servers started at once on a new store all come up, on one master key file", async () => {
    const dir = tempDir();
    const servers = await startBuiltServers(4, { dir, env: { SSOD_ADMIN_API_KEY: adminKey } });
    try {
      assert.deepEqual(
        readdirSync(join(dir, "data")).filter((f) => f.startsWith("master")),
        ["master.key"],
      );
      const auth = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
      const issued = (await (
        await fetch(`${servers[0]!.url}/v1/tokens`, { method: "POST", headers: auth, body: JSON.stringify({ user: { email: "race@example.com" } }) })
      ).json()) as { token: string };
      const redeemed = await fetch(`${servers[3]!.url}/v1/tokens/redeem`, { method: "POST", headers: auth, body: JSON.stringify({ token: issued.token }) });
      assert.equal(redeemed.status, 200);
    } finally {
      await stopAll(servers);
    }
  });

  test("a key file that is not the store's is refused, naming the file (exit 2)", async () => {
    const dir = tempDir();
    const env = { SSOD_DATABASE_URL: `file:${dbIn(dir)}` };
    const other = tempDir();
    const otherEnv = { SSOD_DATABASE_URL: `file:${dbIn(other)}` };
    for (const e of [env, otherEnv]) assert.equal((await ssod(["migrate"], { env: e })).code, 0);
    assert.equal((await ssod(["admin-key", "create", "--name", "x"], { env })).code, 0);
    assert.equal((await ssod(["admin-key", "create", "--name", "y"], { env: otherEnv })).code, 0);
    copyFileSync(join(other, "master.key"), join(dir, "master.key"));
    const r = await ssod(["admin-key", "create", "--name", "z"], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /master\.key: this is not the master key/);
  });

  test("`backup` refuses a store that is not there (and makes none), a target that exists, and a remote store", async () => {
    const dir = tempDir();
    const missing = await ssod(["backup", join(dir, "copy.db")], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}` } });
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /no store at/);
    assert.ok(!existsSync(dbIn(dir)), "no empty store made and backed up");
    assert.equal((await ssod(["migrate"], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}` } })).code, 0);
    const exists = await ssod(["backup", dbIn(dir)], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}` } });
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, /already exists/);
    const remote = await ssod(["backup", join(dir, "x.db")], { env: { SSOD_DATABASE_URL: "libsql://db.example.com" } });
    assert.equal(remote.code, 2);
  });

  test("--cache-dir (SSOD_CACHE_DIR) names where the single file writes libSQL's binding", async () => {
    const dir = tempDir();
    copyFileSync(BUILT, join(dir, "ssod.mjs"));
    const cache = join(dir, "binding-cache");
    const r = await runBuilt(["migrate", "--cache-dir", cache], { dir, file: join(dir, "ssod.mjs") });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      readdirSync(cache).some((f) => /^libsql-linux-x64-(gnu|musl)-[0-9a-f]{16}\.node$/.test(f)),
      readdirSync(cache).join(", "),
    );
  });
});

// ---------------------------------------------------------------------------
describe("app create", () => {
  let server: TestServer;
  let env: Record<string, string>;
  before(async () => {
    server = await openTestServer();
    env = { SSOD_DATABASE_URL: `file:${join(server.dir, "ssod.db")}` };
  });
  after(async () => {
    await server?.close();
  });
  const appsNamed = async (name: string) => {
    const r = await server.request("GET", "/v1/apps", { headers: { authorization: `Bearer ${server.adminKey}` } });
    return ((await r.json()) as { items: Record<string, unknown>[] }).items.filter((a) => a.name === name);
  };

  test("takes the access rule, the login URL, post-logout URIs and path prefixes; a URI with a comma is one URI", async () => {
    const r = await ssod(
      [
        "app",
        "create",
        "--name",
        "Wiki",
        "--redirect-uri",
        "https://wiki.example.com/cb?tabs=a,b",
        "--redirect-uri",
        "https://wiki.example.com/other",
        "--post-logout-redirect-uri",
        "https://wiki.example.com/bye",
        "--post-logout-redirect-uri",
        "https://wiki.example.com/bye,again",
        "--allowed-groups",
        "staff, ops",
        "--org-ids",
        "org1,org2",
        "--login-url",
        "https://portal.example.com/sso-start",
        "--forward-auth-host",
        "wiki.example.com",
        "--path-prefix",
        "/admin",
        "--path-prefix",
        "/admin/",
      ],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /admits every user/);
    const [app] = await appsNamed("Wiki");
    assert.ok(app, "the app is there");
    assert.deepEqual(app.redirectUris, ["https://wiki.example.com/cb?tabs=a,b", "https://wiki.example.com/other"]);
    assert.deepEqual(app.postLogoutRedirectUris, ["https://wiki.example.com/bye", "https://wiki.example.com/bye,again"]);
    assert.deepEqual(app.allowedGroups, ["staff", "ops"]);
    assert.deepEqual(app.orgIds, ["org1", "org2"]);
    assert.equal(app.loginUrl, "https://portal.example.com/sso-start");
    assert.deepEqual(app.forwardAuth, { hosts: ["wiki.example.com"], pathPrefixes: ["/admin", "/admin/"] });
  });

  test("needs no --redirect-uri with --forward-auth-host (the usage says so), and says when the app admits everyone", async () => {
    const help = await ssod(["app", "create", "--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: ssod app create --name NAME \(--redirect-uri URL \| --forward-auth-host HOST\)/);
    assert.match(help.stdout, /--redirect-uri .*unless --forward-auth-host/);
    const r = await ssod(["app", "create", "--name", "Open", "--forward-auth-host", "open.example.com"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^.*admits every user with an ssod session; restrict it with --allowed-groups or --org-ids$/m);
    const [app] = await appsNamed("Open");
    assert.deepEqual(app?.redirectUris, []);
    assert.deepEqual(app?.forwardAuth, { hosts: ["open.example.com"], pathPrefixes: ["/"] });
    const neither = await ssod(["app", "create", "--name", "Nothing"], { env });
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /--redirect-uri .*or --forward-auth-host/);
  });

  test("--login-url is the app's own; for every other command it is still SSOD_LOGIN_URL's flag", async () => {
    const help = await ssod(["app", "create", "--help"]);
    assert.equal(help.stdout.match(/^ {2}--login-url /gm)?.length, 1, help.stdout);
    assert.doesNotMatch(help.stdout, /SSOD_LOGIN_URL\n/, "not listed among the configuration flags");
    const dir = tempDir();
    const migrate = await ssod(["migrate", "--login-url", "https://portal.example.com/sso-start"], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}` } });
    assert.equal(migrate.code, 0, migrate.stderr);
    const bad = await ssod(["migrate", "--login-url", "ftp://portal.example.com/"], { env: { SSOD_DATABASE_URL: `file:${dbIn(dir)}` } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--login-url: expected an absolute http/);
  });

  test("a bad value is bad usage (exit 2) in the rules' words, and no app is made", async () => {
    const base = ["app", "create", "--name", "Bad"];
    const cases: [string[], RegExp][] = [
      [["--redirect-uri", "https://bad.example.com/cb#x"], /--redirect-uri must not have a fragment/],
      [["--redirect-uri", "http://bad.example.com/cb"], /--redirect-uri must be https/],
      [["--forward-auth-host", "bad.example.com", "--post-logout-redirect-uri", "http://bad.example.com/bye"], /--post-logout-redirect-uri must be https/],
      [["--forward-auth-host", "bad.example.com", "--login-url", "ftp://portal.example.com/"], /--login-url must be an absolute http\(s\) URL/],
      [["--forward-auth-host", "bad.example.com", "--org-ids", "x".repeat(129)], /--org-ids must have at most 128 characters/],
      [
        ["--forward-auth-host", "bad.example.com", "--allowed-groups", Array.from({ length: 101 }, (_, i) => `g${i}`).join(",")],
        /--allowed-groups must have at most 100/,
      ],
      [["--forward-auth-host", "bad.example.com", "--path-prefix", "admin"], /--path-prefix must be a path starting with \//],
      [["--forward-auth-host", "bad.example.com:8080"], /--forward-auth-host must be a host name/],
      [["--redirect-uri", "https://bad.example.com/cb", "--path-prefix", "/admin"], /--path-prefix .*--forward-auth-host/],
    ];
    for (const [flags, message] of cases) {
      const r = await ssod([...base, ...flags], { env });
      assert.equal(r.code, 2, `${flags.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, "");
    }
    assert.deepEqual(await appsNamed("Bad"), []);
  });
});

// ---------------------------------------------------------------------------
describe("the store a command works on", () => {
  test("a command that writes, run where there is no store, exits 2, says so and how to make one, and makes nothing", async () => {
    const dir = tempDir();
    const commands: [string[], string?][] = [
      [["app", "create", "--name", "Wiki", "--forward-auth-host", "wiki.example.com"]],
      [["webhook", "create", "--url", "https://hooks.example.com/", "--events", "*"]],
      [["admin-key", "create", "--name", "ci"]],
      [["admin-key", "list"]],
      [["admin-key", "revoke", "1"]],
      [["admin", "create", "--username", "bob"], "a long password 123\n"],
    ];
    for (const [args, input] of commands) {
      const r = await runBuilt(args, { dir, ...(input ? { input } : {}) });
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.ok(r.stderr.includes(join(dir, "data", "ssod.db")), r.stderr);
      assert.match(r.stderr, /no store/);
      assert.match(r.stderr, /`ssod migrate`/);
      assert.match(r.stderr, /SSOD_DATABASE_URL/);
      assert.equal(r.stdout, "");
      assert.deepEqual(readdirSync(dir), [], `${args.join(" ")} made nothing`);
    }
  });

  test("each prints the store it works on to stderr: the URL and the file; a remote store's URL without its token", async () => {
    const dir = tempDir();
    assert.equal((await runBuilt(["migrate"], { dir })).code, 0);
    const list = await runBuilt(["admin-key", "list"], { dir });
    assert.equal(list.code, 0, list.stderr);
    assert.ok(list.stderr.includes("file:./data/ssod.db"), list.stderr);
    assert.ok(list.stderr.includes(join(dir, "data", "ssod.db")), list.stderr);
    assert.doesNotMatch(list.stdout, /ssod\.db/, "stdout is the answer only");
    const token = "a-database-token-never-shown";
    const remote = await ssod(["admin-key", "create", "--name", "x"], {
      env: { SSOD_DATABASE_URL: `libsql://127.0.0.1:9?tls=0&authToken=${token}`, SSOD_DATABASE_AUTH_TOKEN: token },
    });
    assert.equal(remote.code, 2, remote.stderr);
    assert.ok(remote.stderr.includes("libsql://127.0.0.1:9?tls=0"), remote.stderr);
    assert.ok(!remote.stderr.includes(token), remote.stderr);
  });
});
