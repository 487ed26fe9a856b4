// The command line (SPEC §4): `node --import tsx src/main.ts …` as a real
// process — version, help, configuration errors that name the setting (and
// never echo a secret), `migrate`, `admin-key create`, `admin create` with the
// password on stdin; the key and the account then work against the built
// dist/ssod.mjs serving the same store file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { startBuiltServer, type ServerProcess } from "./helpers/process";
import { tempDir } from "./helpers/temp";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `ssod ARGS` from source with only the environment given (plus PATH and HOME). */
function ssod(args: string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  const home = tempDir("ssod-cli-home-");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: home, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

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
    for (const word of ["Usage", "serve", "migrate", "admin-key create", "admin create", "version", "SSOD_DATABASE_URL", "SSOD_PORT", "SSOD_MASTER_KEY", "SSOD_ADMIN_API_KEY"]) {
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
    assert.notEqual(serve.code, 0);
    assert.match(serve.stderr, /SSOD_MASTER_KEY/);
    const key = await ssod(["admin-key", "create", "--name", "x"], { env, timeoutMs: 20_000 });
    assert.notEqual(key.code, 0);
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

  before(() => {
    dir = tempDir();
    env = { SSOD_DATABASE_URL: `file:${dbIn(dir)}` };
  });
  after(async () => {
    if (server) {
      server.kill("SIGTERM");
      await server.exited;
    }
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
    assert.notEqual(dup.code, 0);
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
