// SPEC §5: "Comparisons are constant-time." Every place a secret is compared
// (admin keys in each dialect, the legacy SessionID and password, client
// secrets, the LOB caller JWT's HMAC, the metrics token, the session cookie)
// answers a wrong secret of the right length exactly as it answers one of a
// wrong length: same status, same WWW-Authenticate, same body.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createAdminAccount } from "../src/core/admin-accounts";
import { callerJwt, LOB_BODY, lobHeaders } from "./helpers/identity-provider";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, type CreatedSource, createSource } from "./helpers/sources";

let s: TestServer;
let hsSource: CreatedSource;

before(async () => {
  s = await openTestServer(NO_THROTTLE);
  hsSource = await createSource(s, { code: "hs" });
});

after(async () => {
  await s?.close();
});

describe("every secret comparison answers a wrong secret of the right length as one of a wrong length", () => {
  const PASSWORD = "correct horse battery staple";
  let metrics: TestServer;
  const METRICS_TOKEN = "metrics-token-0123456789abcdef";
  let sessionId: string;

  before(async () => {
    await createAdminAccount(s.runtime.core, "root", PASSWORD);
    const r = await s.request("POST", "/api.php", { json: { Command: "admin.login", Username: "root", Password: PASSWORD } });
    assert.equal(r.status, 200);
    sessionId = ((await r.json()) as { SessionID: string }).SessionID;
    metrics = await openTestServer({ ...NO_THROTTLE, SSOD_METRICS_TOKEN: METRICS_TOKEN });
  });

  after(async () => {
    await metrics?.close();
  });

  /** Flips the last character: a wrong secret of the very same length. */
  const sameLength = (secret: string) => secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");

  /** Status and body, without what differs per request. */
  async function answer(r: Response): Promise<string> {
    const body = (await r.text()).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<id>");
    return `${r.status} ${r.headers.get("www-authenticate") ?? ""} ${body}`;
  }

  const paths: [string, (secret: (real: string) => string) => Promise<Response>, () => string][] = [
    ["v1 admin key (Bearer)", (wrong) => s.request("GET", "/v1/sources", { headers: { authorization: `Bearer ${wrong(s.adminKey)}` } }), () => s.adminKey],
    [
      "Tyk admin key (bare Authorization)",
      (wrong) => s.request("POST", "/api/sso", { json: { emailAddress: "a@example.com" }, headers: { authorization: wrong(s.adminKey) } }),
      () => s.adminKey,
    ],
    [
      "Tyk admin key (admin-auth)",
      (wrong) => s.request("POST", "/admin/sso", { json: { emailAddress: "a@example.com" }, headers: { "admin-auth": wrong(s.adminKey) } }),
      () => s.adminKey,
    ],
    ["legacy APIKey", (wrong) => s.request("POST", "/api.php", { json: { Command: "sso.list", APIKey: wrong(s.adminKey) } }), () => s.adminKey],
    ["legacy SessionID", (wrong) => s.request("POST", "/api.php", { json: { Command: "sso.list", SessionID: wrong(sessionId) } }), () => sessionId],
    [
      "legacy admin.login password",
      (wrong) => s.request("POST", "/api.php", { json: { Command: "admin.login", Username: "root", Password: wrong(PASSWORD) } }),
      () => PASSWORD,
    ],
    [
      "v1 client secret (Basic)",
      (wrong) =>
        s.request("POST", "/v1/tokens", {
          json: { user: { email: "a@example.com" } },
          headers: basicAuth({ clientId: hsSource.clientId, clientSecret: wrong(hsSource.clientSecret) }),
        }),
      () => hsSource.clientSecret,
    ],
    [
      "Tyk client secret (Basic)",
      (wrong) =>
        s.request("POST", "/api/sso", {
          json: { emailAddress: "a@example.com" },
          headers: basicAuth({ clientId: hsSource.clientId, clientSecret: wrong(hsSource.clientSecret) }),
        }),
      () => hsSource.clientSecret,
    ],
    [
      "LOB caller JWT (HS256 with the client secret)",
      async (wrong) =>
        s.request("POST", "/GenerateSSOToken", {
          json: LOB_BODY,
          headers: lobHeaders(hsSource.clientId, await callerJwt(hsSource, { secret: wrong(hsSource.clientSecret) })),
        }),
      () => hsSource.clientSecret,
    ],
    ["metrics token", (wrong) => metrics.request("GET", "/metrics", { headers: { authorization: `Bearer ${wrong(METRICS_TOKEN)}` } }), () => METRICS_TOKEN],
    ["session cookie (/v1/session)", (wrong) => s.request("GET", "/v1/session", { headers: { cookie: `ssod_session=${wrong(sessionId)}` } }), () => sessionId],
  ];

  for (const [label, call, real] of paths) {
    test(label, async () => {
      const right = await answer(await call(sameLength));
      const shorter = await answer(await call((x) => x.slice(0, Math.floor(x.length / 2))));
      const longer = await answer(await call((x) => `${x}extra`));
      assert.notEqual(sameLength(real()), real());
      assert.match(right, /^4\d\d /, `a wrong secret of the right length was accepted: ${right}`);
      assert.equal(shorter, right, "a shorter secret is answered differently");
      assert.equal(longer, right, "a longer secret is answered differently");
    });
  }
});
