// The structured request log of the built server (SPEC §4, §5): one JSON line
// per request on stdout (request id, method, path without its query, route,
// status, duration), none below SSOD_LOG_LEVEL, and never a token, key,
// secret, password or session id in it, even from a query string.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { generateAdminKey } from "../src/core/admin-keys";
import { callerJwt, lobHeaders } from "./helpers/identity-provider";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { basicAuth } from "./helpers/sources";

describe("the request log", () => {
  let server: ServerProcess;
  before(async () => {
    server = await startBuiltServer();
  });
  after(() => stopAll([server], "SIGKILL"));

  test("one JSON line per request: request id, method, path without query, route, status, duration, source", async () => {
    const response = await fetch(`${server.url}/v1/login?token=SECRET-LOOKING-TOKEN-TEXT-0123456789`, { headers: { "x-request-id": "req-42" } });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get("x-request-id"), "req-42");
    const generated = (await fetch(`${server.url}/healthz`)).headers.get("x-request-id");
    assert.match(generated ?? "", /^[0-9a-f-]{36}$/);
    // Lines are written in 4 KiB chunks, at most 250 ms late.
    await new Promise((r) => setTimeout(r, 600));
    const lines = server
      .stdout()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = lines.find((l) => l.reqId === "req-42");
    assert.ok(line, server.stdout());
    assert.equal(line.level, "info");
    assert.equal(line.method, "GET");
    assert.equal(line.path, "/v1/login");
    assert.equal(line.route, "/v1/login");
    assert.equal(line.status, 400);
    assert.equal(typeof line.ms, "number");
    assert.equal(typeof line.time, "string");
    assert.ok(!server.stdout().includes("SECRET-LOOKING-TOKEN-TEXT"), "the query string is never logged");
    assert.ok(lines.some((l) => l.reqId === generated));
  });

  test("forward-auth decisions (one per request of every protected app) are logged at debug, not info", async () => {
    const r = await fetch(`${server.url}/v1/forward-auth`, {
      headers: { "x-request-id": "fa-quiet", "x-original-url": "http://app.example/", "x-original-method": "GET" },
    });
    assert.equal(r.status, 403);
    await fetch(`${server.url}/healthz`, { headers: { "x-request-id": "after-fa" } });
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(server.stdout().includes('"reqId":"after-fa"'));
    assert.ok(!server.stdout().includes("fa-quiet"), server.stdout());
  });

  test("SSOD_LOG_LEVEL=warn leaves request lines out", async () => {
    const quiet = await startBuiltServer({ env: { SSOD_LOG_LEVEL: "warn" } });
    try {
      await fetch(`${quiet.url}/healthz`);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(quiet.stdout().trim(), "");
    } finally {
      await stopAll([quiet], "SIGKILL");
    }
  });
});

describe("the built server's log at its most verbose (trace)", () => {
  let server: ServerProcess;
  const secrets = new Map<string, string>();
  let key: string;

  before(async () => {
    key = generateAdminKey();
    secrets.set("admin key", key);
    // trace: the most the server ever logs.
    server = await startBuiltServer({ env: { SSOD_ADMIN_API_KEY: key, SSOD_LOG_LEVEL: "trace" } });
  });

  after(async () => {
    await stopAll([server]);
  });

  test("holds none of the tokens, keys, secrets, passwords or session ids it handled (query strings included)", { timeout: 30_000 }, async (t) => {
    const base = server.url;
    const json = { "content-type": "application/json" };
    const auth = { authorization: `Bearer ${key}`, ...json };
    const post = (path: string, body: unknown, headers: Record<string, string> = auth) =>
      fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });

    let r = await post("/v1/sources", { code: "logged", name: "Logged", validForSeconds: 600, redirectUrls: ["https://app.example/in"] });
    const source = (await r.json()) as { id: number; clientId: string; clientSecret: string; signingSecret: string };
    secrets.set("client secret", source.clientSecret);
    secrets.set("signing secret", source.signingSecret);
    r = await post(`/v1/sources/${source.id}/secret`, {});
    const rotated = (await r.json()) as { clientSecret: string; signingSecret: string };
    secrets.set("rotated client secret", rotated.clientSecret);
    secrets.set("rotated signing secret", rotated.signingSecret);
    const basic = { ...basicAuth({ clientId: source.clientId, clientSecret: rotated.clientSecret }), ...json };

    const issued: string[] = [];
    for (const format of ["nonce", "jwt", "nonce", "jwt", "nonce"]) {
      r = await post("/v1/tokens", { user: { email: "log@example.com" }, format, redirectUrl: "https://app.example/in" }, basic);
      const body = (await r.json()) as { token: string };
      issued.push(body.token);
      secrets.set(`v1 ${format} token ${issued.length}`, body.token);
    }
    const nonces: string[] = [];
    for (const section of ["dashboard", "portal", "dashboard"]) {
      r = await post("/api/sso", { emailAddress: "tyk@example.com", forSection: section });
      const nonce = ((await r.json()) as { Meta: string }).Meta;
      nonces.push(nonce);
      secrets.set(`tyk ${section} nonce ${nonces.length}`, nonce);
    }
    const caller = await callerJwt({ clientId: source.clientId, clientSecret: rotated.clientSecret });
    secrets.set("LOB caller JWT", caller);
    r = await fetch(`${base}/GenerateSSOToken`, {
      method: "POST",
      headers: lobHeaders(source.clientId, `Bearer ${caller}`),
      body: JSON.stringify({ CIINo: "C1", LOBId: "L1", Functionality: "F1" }),
    });
    const lob = (await r.json()) as { TokenNo: string };
    secrets.set("LOB TokenNo", lob.TokenNo);

    // Redemptions: in query strings (browser), in bodies (API).
    r = await fetch(`${base}/v1/login?token=${encodeURIComponent(issued[0]!)}`, { redirect: "manual" });
    assert.equal(r.status, 303);
    const cookie = /ssod_session=([^;]+)/.exec(r.headers.get("set-cookie") ?? "")![1]!;
    secrets.set("session cookie", cookie);
    r = await fetch(`${base}/v1/login?token=${encodeURIComponent(issued[1]!)}&utm=${encodeURIComponent(key)}`, { redirect: "manual" });
    assert.equal(r.status, 303);
    r = await fetch(`${base}/tap?nonce=${nonces[0]}`);
    assert.equal(r.status, 200);
    r = await fetch(`${base}/sso?nonce=${nonces[1]}`, { headers: { accept: "application/json" } });
    assert.equal(r.status, 200);
    // Refused ones: a used token again, a nonce at the wrong section, a token-shaped junk string.
    r = await fetch(`${base}/v1/login?token=${encodeURIComponent(issued[0]!)}`);
    assert.equal(r.status, 400);
    r = await fetch(`${base}/sso?nonce=${nonces[2]}`);
    assert.equal(r.status, 400);
    r = await post("/v1/tokens/introspect", { token: issued[2] });
    assert.equal(r.status, 200);
    r = await post("/v1/tokens/redeem", { token: issued[2] }, basic);
    const api = (await r.json()) as { session: { id: string } };
    secrets.set("API session id", api.session.id);
    r = await post("/v1/tokens/redeem", { token: lob.TokenNo });
    assert.equal(r.status, 200);
    r = await post("/v1/tokens/revoke", { token: issued[3] });
    assert.equal(r.status, 200);
    // Tokens where they do not belong: in the query of other routes, in a 404, in a failing body.
    await fetch(`${base}/healthz?token=${issued[4]}`);
    await fetch(`${base}/v1/tokens/redeem?token=${issued[4]}`, { method: "POST", headers: auth, body: "{" });
    await fetch(`${base}/nowhere?nonce=${nonces[2]}&key=${key}`);
    await post("/v1/tokens/redeem", { token: issued[4], extra: issued[4] });
    await fetch(`${base}/v1/sources`, { headers: { authorization: `Bearer ${key.slice(0, -1)}X` } });
    secrets.set("near-miss admin key", `${key.slice(0, -1)}X`);
    r = await fetch(`${base}/v1/session`, { headers: { cookie: `ssod_session=${cookie}` } });
    assert.equal(r.status, 200);
    // Forward auth: the session in a proxy's request, at debug level here.
    r = await fetch(`${base}/v1/forward-auth?token=${issued[4]}`, {
      headers: {
        cookie: `ssod_session=${cookie}`,
        "x-original-url": `http://app.example/?token=${issued[4]}`,
        "x-original-method": "GET",
        "x-request-id": "fa-loud",
      },
    });
    assert.equal(r.status, 403);
    // The legacy dialect: a password and the SessionID it yields, form-encoded and as JSON.
    const password = "log-test password 1234";
    secrets.set("wrong admin password", password);
    await fetch(`${base}/api.php`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `Command=admin.login&Username=nobody&Password=${encodeURIComponent(password)}`,
    });
    await fetch(`${base}/api.php`, { method: "POST", headers: json, body: JSON.stringify({ Command: "sso.list", APIKey: key }) });
    await fetch(`${base}/api.php?APIKey=${key}`, { method: "POST", headers: json, body: JSON.stringify({ Command: "sso.list", APIKey: key }) });

    // Stop it, so every buffered line is written.
    server.kill("SIGTERM");
    assert.equal(await server.exited, 0);
    const stdout = server.stdout();
    const stderr = server.stderr();
    const lines = stdout.trim().split("\n");
    for (const line of lines) JSON.parse(line); // one JSON object a line
    assert.ok(
      lines.some((l) => l.includes('"path":"/v1/login"')),
      "the request log has the landings (by path)",
    );
    assert.ok(
      lines.some((l) => l.includes('"reqId":"fa-loud"') && l.includes('"level":"debug"')),
      "forward-auth decisions at debug",
    );
    const leaks = [...secrets].flatMap(([label, value]) => [
      ...(stdout.includes(value) ? [`${label} in stdout`] : []),
      ...(stderr.includes(value) ? [`${label} in stderr`] : []),
      // Percent-encoded too.
      ...(encodeURIComponent(value) !== value && stdout.includes(encodeURIComponent(value)) ? [`${label} (encoded) in stdout`] : []),
    ]);
    t.diagnostic(`${lines.length} log lines, ${secrets.size} secrets and tokens searched for, ${leaks.length} found`);
    assert.deepEqual(leaks, [], "secrets in the log");
    assert.doesNotMatch(stdout, /nonce=|token=|APIKey=|Password/, "a query string or a password field reached the log");
  });
});
