// SPEC §5: "Secrets at rest are hashed (tokens, keys, client secrets,
// sessions) or encrypted (signing secrets)." A built server (and the CLI)
// make every kind of secret: admin keys, an admin account's password and the
// SessionIDs admin.login hands out, sources' client and signing secrets (made
// and rotated), tokens of every format (native nonce and JWT, Tyk nonce, LOB
// TokenNo), redeemed, revoked and left alone, login sessions (API and
// cookie), a rotated signing key, a webhook endpoint's secret (made and
// rotated; sealed like a signing secret, SPEC §9) with every change's event
// in the outbox. Then it is killed (so the WAL is left as it
// was) and the database files are read as bytes: none of those secrets may be
// found in them, as text or as raw bytes.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { generateAdminKey } from "../src/core/admin-keys";
import { MasterKey, sha256 } from "../src/core/crypto";
import { lobHeaders, callerJwt as signCallerJwt } from "./helpers/identity-provider";
import { runBuilt, startBuiltServer, stopAll } from "./helpers/process";
import { basicAuth } from "./helpers/sources";
import { tempDir } from "./helpers/temp";

test("no token, key, client secret, signing secret, session id or password is in the database files", { timeout: 60_000 }, async (t) => {
  const dir = tempDir("ssod-at-rest-");
  const db = join(dir, "ssod.db");
  const adminKey = generateAdminKey();
  const env = { SSOD_DATABASE_URL: `file:${db}`, SSOD_ADMIN_API_KEY: adminKey, SSOD_LOG_LEVEL: "info" };
  const secrets = new Map<string, string>();
  secrets.set("admin key (SSOD_ADMIN_API_KEY)", adminKey);

  // The CLI: a second admin key and an admin account.
  const cliEnv = { ...env, SSOD_CACHE_DIR: join(dir, ".cache") };
  assert.equal((await runBuilt(["migrate"], { dir, env: cliEnv })).code, 0, "the CLI works on an existing store only");
  const made = await runBuilt(["admin-key", "create", "--name", "second"], { dir, env: cliEnv });
  assert.equal(made.code, 0, made.stderr);
  const secondKey = made.stdout.trim();
  assert.match(secondKey, /^ssod_ak_[A-Za-z0-9_-]{43}$/);
  secrets.set("admin key (CLI)", secondKey);
  const PASSWORD = "at-rest password 4f9c2e";
  secrets.set("admin password", PASSWORD);
  const account = await runBuilt(["admin", "create", "--username", "root"], { dir, env: cliEnv, input: `${PASSWORD}\n` });
  assert.equal(account.code, 0, account.stderr);

  const server = await startBuiltServer({ env, dir });
  const base = server.url;
  const json = { "content-type": "application/json" };
  const auth = (key = adminKey) => ({ authorization: `Bearer ${key}`, ...json });
  const post = async (path: string, body: unknown, headers: Record<string, string> = auth()) => {
    const r = await fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
    const text = await r.text();
    assert.ok(r.status < 300, `${path}: ${r.status} ${text}`);
    return JSON.parse(text || "{}") as Record<string, unknown>;
  };

  try {
    // A webhook endpoint first, so every change below also writes its events (which hold no secret) to the store; its secret made, then rotated.
    const hook = (await post("/v1/webhooks", { url: "https://hooks.invalid/ssod", events: ["*", "token.issued"] })) as { id: number; secret: string };
    secrets.set("webhook secret", hook.secret);
    secrets.set("rotated webhook secret", ((await post(`/v1/webhooks/${hook.id}/secret`, {})) as { secret: string }).secret);

    // Sources: secrets made, then rotated.
    const sources: { id: number; clientId: string; clientSecret: string; signingSecret: string }[] = [];
    for (const code of ["rest-a", "rest-b", "rest-c"]) {
      const s = (await post(
        "/v1/sources",
        { code, name: code, validForSeconds: 600, redirectUrls: ["https://app.example/in"] },
        auth(secondKey),
      )) as unknown as (typeof sources)[number];
      secrets.set(`client secret of ${code}`, s.clientSecret);
      secrets.set(`signing secret of ${code}`, s.signingSecret);
      sources.push(s);
    }
    const rotated = (await post(`/v1/sources/${sources[2]!.id}/secret`, {})) as { clientSecret: string; signingSecret: string };
    secrets.set("rotated client secret", rotated.clientSecret);
    secrets.set("rotated signing secret", rotated.signingSecret);
    sources[2] = { ...sources[2]!, ...rotated };
    await post("/api.php", { Command: "sso.create", APIKey: adminKey, SourceName: "Legacy", SourceCode: "rest-legacy", ValidForSeconds: "60" }, json);

    // admin.login: SessionIDs, used and logged out.
    for (let i = 0; i < 2; i++) {
      const login = (await post("/api.php", { Command: "admin.login", Username: "root", Password: PASSWORD }, json)) as { SessionID: string };
      secrets.set(`admin SessionID ${i + 1}`, login.SessionID);
      await post("/api.php", { Command: "sso.list", SessionID: login.SessionID }, json);
      if (i === 0) await post("/api.php", { Command: "admin.logout", SessionID: login.SessionID }, json);
    }

    // Tokens of every format.
    const basic = (s: (typeof sources)[number]) => ({ ...basicAuth(s), ...json });
    const v1: string[] = [];
    for (let i = 0; i < 8; i++) {
      const issued = (await post(
        "/v1/tokens",
        { user: { email: `rest${i}@example.com`, externalId: `EXT-${i}` }, format: i % 2 ? "jwt" : "nonce", redirectUrl: "https://app.example/in" },
        basic(sources[i % 3]!),
      )) as { token: string };
      v1.push(issued.token);
      secrets.set(`v1 ${i % 2 ? "jwt" : "nonce"} token ${i}`, issued.token);
    }
    const tyk: string[] = [];
    for (let i = 0; i < 3; i++) {
      const nonce = ((await post("/api/sso", { EmailAddress: `tyk${i}@example.com`, ForSection: i % 2 ? "portal" : "dashboard" })) as { Meta: string }).Meta;
      tyk.push(nonce);
      secrets.set(`Tyk nonce ${i}`, nonce);
    }
    const callerJwt = await signCallerJwt(sources[0]!);
    secrets.set("LOB caller JWT", callerJwt);
    const lob: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = (await post("/GenerateSSOToken", { CIINo: `CII${i}`, LOBId: "01", Functionality: "D" }, lobHeaders(sources[0]!.clientId, callerJwt))) as {
        TokenNo: string;
      };
      lob.push(r.TokenNo);
      secrets.set(`LOB TokenNo ${i}`, r.TokenNo);
    }

    // Redemptions: API (session ids in the answer) and browser (session cookie); a revocation; some left alone.
    for (const token of [v1[0]!, v1[1]!, lob[0]!]) {
      const r = (await post("/v1/tokens/redeem", { token }, basic(sources[1]!))) as { session?: { id: string } };
      assert.ok(r.session);
      secrets.set(`API session ${token.slice(0, 6)}`, r.session.id);
    }
    for (const path of [`/v1/login?token=${v1[2]}`, `/tap?nonce=${tyk[0]}`, `/sso?nonce=${tyk[1]}`]) {
      const r = await fetch(`${base}${path}`, { redirect: "manual" });
      assert.ok(r.status === 200 || r.status === 303, `${path}: ${r.status}`);
      const cookie = /ssod_session=([A-Za-z0-9_-]+)/.exec(r.headers.get("set-cookie") ?? "")?.[1];
      assert.ok(cookie);
      secrets.set(`cookie session from ${path.split("?")[0]}`, cookie);
      const who = await fetch(`${base}/v1/session`, { headers: { cookie: `ssod_session=${cookie}` } });
      assert.equal(who.status, 200);
    }
    await post("/v1/tokens/revoke", { token: v1[3] });
    await post("/v1/tokens/introspect", { token: v1[4] });
    await post("/v1/keys/rotate", {});
    // A format=jwt token signed by the new key.
    const late = (await post("/v1/tokens", { user: { email: "late@example.com" }, format: "jwt" })) as { token: string };
    secrets.set("v1 jwt token after key rotation", late.token);
  } finally {
    // Killed, not stopped: the WAL stays as the last commits left it.
    await stopAll([server], "SIGKILL");
  }

  const files = ["ssod.db", "ssod.db-wal", "ssod.db-shm"].filter((f) => existsSync(join(dir, f)));
  const bytes = new Map(files.map((f) => [f, readFileSync(join(dir, f))]));
  assert.ok(bytes.has("ssod.db"));
  t.diagnostic(`files read: ${files.map((f) => `${f} (${bytes.get(f)!.length} bytes)`).join(", ")}`);

  /** Every way a secret could sit in a file: its text, and for base64url secrets their raw bytes; a JWT's signature alone. */
  const needles = (value: string): Buffer[] => {
    const out = [Buffer.from(value, "utf8")];
    const raw = /^(?:ssod_(?:ak|cs|ss)_)?([A-Za-z0-9_-]{43})$/.exec(value)?.[1];
    if (raw) out.push(Buffer.from(raw, "base64url"), Buffer.from(raw, "utf8"));
    const webhookKey = /^whsec_([A-Za-z0-9+/]{43}=)$/.exec(value)?.[1];
    if (webhookKey) out.push(Buffer.from(webhookKey, "base64"), Buffer.from(webhookKey, "utf8"));
    const parts = value.split(".");
    if (parts.length === 3 && parts[2]!.length > 20) out.push(Buffer.from(parts[2]!, "utf8"), Buffer.from(parts[2]!, "base64url"));
    return out;
  };
  // A control: the search does find what is there (the hashes stored in place of the secrets).
  const all = Buffer.concat([...bytes.values()]);
  for (const label of ["admin key (SSOD_ADMIN_API_KEY)", "admin key (CLI)", "v1 nonce token 0", "Tyk nonce 2", "LOB TokenNo 1"]) {
    assert.ok(all.includes(Buffer.from(sha256(secrets.get(label)!))), `the SHA-256 of ${label} is not in the files: is the search looking in the right place?`);
  }
  const found: string[] = [];
  for (const [label, value] of secrets) {
    for (const needle of needles(value)) {
      for (const [file, content] of bytes) if (content.includes(needle)) found.push(`${label} in ${file}`);
    }
  }

  // The master key and the signing keys' private halves, recovered with the master key itself.
  const masterText = readFileSync(join(dir, "master.key"), "utf8").trim();
  for (const [file, content] of bytes) {
    if (content.includes(Buffer.from(masterText))) found.push(`the master key in ${file}`);
    if (content.includes(Buffer.from(masterText, "base64url"))) found.push(`the master key's raw bytes in ${file}`);
    if (content.includes(Buffer.from("PRIVATE KEY"))) found.push(`a PEM private key in ${file}`);
  }
  const { createClient } = await import("@libsql/client/sqlite3");
  const client = createClient({ url: `file:${db}`, intMode: "number" });
  try {
    const master = MasterKey.parse(masterText)!;
    const keys = await client.execute("SELECT kid, private_key_enc FROM signing_keys");
    assert.ok(keys.rows.length >= 2, "the rotated key and its successor");
    for (const row of keys.rows) {
      const pem = master.open(String(row.private_key_enc), "signing_key").toString("utf8");
      assert.match(pem, /BEGIN PRIVATE KEY/);
      const der = pem.replace(/-----[^-]+-----|\s/g, "");
      for (const [file, content] of bytes) {
        if (content.includes(Buffer.from(der))) found.push(`signing key ${row.kid} (PEM body) in ${file}`);
        // An Ed25519 PKCS#8 key ends with its 32-byte seed.
        if (content.includes(Buffer.from(der, "base64").subarray(-32))) found.push(`signing key ${row.kid} (seed) in ${file}`);
      }
    }
    // What is there instead: hashes and sealed boxes.
    const sources = await client.execute("SELECT code, client_secret_hash, client_secret_enc, signing_secret_enc FROM sso_sources ORDER BY code");
    assert.deepEqual(
      sources.rows.map((row) => row.code),
      ["default", "rest-a", "rest-b", "rest-c", "rest-legacy"],
    );
    for (const row of sources.rows) {
      assert.match(String(row.signing_secret_enc), /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, `${row.code}: signing secret not sealed`);
      // A source keeps a sealed copy of its client secret exactly when it has one (a hash): the default source and one made by sso.create have neither.
      assert.equal(
        row.client_secret_enc === null,
        row.client_secret_hash === null,
        `${row.code}: a client secret hash without its sealed copy, or the reverse`,
      );
    }
    const withSecret = sources.rows.filter((row) => row.client_secret_hash !== null);
    assert.deepEqual(
      withSecret.map((row) => row.code),
      ["rest-a", "rest-b", "rest-c"],
    );
    for (const row of withSecret)
      assert.match(String(row.client_secret_enc), /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, `${row.code}: client secret copy not sealed`);
    const password = await client.execute("SELECT password_hash FROM admin_accounts WHERE username = 'root'");
    assert.match(String(password.rows[0]!.password_hash), /^scrypt\$/);
    const counts = await client.execute(
      "SELECT (SELECT count(*) FROM sso_tokens) AS tokens, (SELECT count(*) FROM login_sessions) AS sessions, (SELECT count(*) FROM admin_sessions) AS admin_sessions, (SELECT count(*) FROM admin_keys) AS keys",
    );
    t.diagnostic(`rows at rest: ${JSON.stringify(counts.rows[0])}`);
  } finally {
    client.close();
  }

  t.diagnostic(`secrets searched for: ${secrets.size} (+ master key, ${"signing keys"}); found: ${found.length}`);
  assert.deepEqual(found, [], "secrets at rest in the clear");
});
