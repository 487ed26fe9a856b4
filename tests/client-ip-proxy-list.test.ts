// SPEC §5 "Client IP", the cases tests/client-ip.test.ts leaves out. With a
// list of proxies (SSOD_TRUST_PROXY=10.0.0.5,10.0.1.0/24, a chain of two, as
// docs/deploy.md shows), the client is the rightmost X-Forwarded-For entry
// that is not one of them, not merely the rightmost; a peer that is not on
// the list is itself the client, whatever X-Forwarded-For it writes; and the
// login session and the token.redeem audit row hold that same address.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, type CreatedSource, createSource } from "./helpers/sources";

/** The proxy ssod's socket sees, and the one in front of it. */
const EDGE = "10.0.1.7";
const INNER = "10.0.0.5";
const ALLOWED = "192.0.2.10";
const ATTACKER = "198.51.100.66";

let s: TestServer;
let limited: CreatedSource;
let portal: CreatedSource;

before(async () => {
  s = await openTestServer({ SSOD_TRUST_PROXY: `${INNER},10.0.1.0/24`, SSOD_THROTTLE_IP_LIMIT: "3" });
  limited = await createSource(s, { code: "limited", allowedIps: [ALLOWED] });
  portal = await createSource(s, { code: "portal-ip" });
});
after(() => s.close());

async function callerJwt(source: CreatedSource) {
  return new SignJWT({ client_id: source.clientId })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(source.clientSecret));
}

/** /GenerateSSOToken for the allow-listed source, from `peer`, with the X-Forwarded-For given. */
async function generate(peer: string, forwardedFor: string | undefined) {
  const r = await s.request("POST", "/GenerateSSOToken", {
    json: { CIINo: "1", LOBId: "2", Functionality: "3" },
    headers: {
      "x-api-version": "1.0.0",
      "x-lob-client-id": limited.clientId,
      authorization: `Bearer ${await callerJwt(limited)}`,
      ...(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor }),
    },
    ip: peer,
  });
  await r.text();
  return r.status;
}

describe("a list of trusted proxies", () => {
  test("through two listed proxies the client is the rightmost entry that is neither, not the rightmost one", async () => {
    // The edge proxy appended the client, the inner proxy appended the edge; the socket sees the inner one.
    assert.equal(await generate(INNER, `${ALLOWED}, ${EDGE}`), 200, "the allow-listed client behind two proxies");
    assert.equal(await generate(INNER, `${ALLOWED}, ${ATTACKER}, ${EDGE}`), 406, "the client the edge saw is the attacker");
    assert.equal(await generate(EDGE, `${ATTACKER}, ${ALLOWED}`), 200, "whatever the client wrote before its real address");
  });

  test("a peer that is not on the list is the client: its X-Forwarded-For is ignored", async () => {
    assert.equal(await generate(ATTACKER, ALLOWED), 406, "an untrusted peer names itself allowed");
    assert.equal(await generate(ATTACKER, `${ALLOWED}, ${INNER}`), 406, "nor by naming a proxy after it");
    assert.equal(await generate(ALLOWED, ATTACKER), 200, "the allowed address connecting directly");
  });

  test("an untrusted peer that writes a new X-Forwarded-For on every try is throttled at its own address", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await s.request("GET", "/v1/sources", {
        headers: { authorization: `Bearer ssod_ak_${"z".repeat(43)}`, "x-forwarded-for": `203.0.113.${i + 1}` },
        ip: "198.51.100.77",
      });
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
  });
});

describe("sessions and audit rows hold the client's address", () => {
  test("a browser redemption behind the proxies: the login session and the token.redeem row name the client, not a proxy", async () => {
    const client = "192.0.2.77";
    const issued = await s.request("POST", "/v1/tokens", { json: { user: { email: "where@example.com" } }, headers: basicAuth(portal) });
    assert.equal(issued.status, 201);
    const { token, tokenRefNo } = (await issued.json()) as { token: string; tokenRefNo: string };
    const landed = await s.request("GET", `/v1/login?token=${token}`, { headers: { "x-forwarded-for": `203.0.113.9, ${client}, ${EDGE}` }, ip: INNER });
    assert.equal(landed.status, 200, await landed.clone().text());
    assert.match(landed.headers.get("set-cookie") ?? "", /ssod_session=/);

    const sessions = await s.runtime.store.driver.query({
      sql: "SELECT ls.ip FROM login_sessions ls JOIN users u ON u.id = ls.user_id WHERE u.email = ?",
      args: ["where@example.com"],
    });
    assert.deepEqual(
      sessions.rows.map((r) => r[0]),
      [client],
      "the session's address",
    );

    const audit = (await (
      await s.request("GET", "/v1/audit?action=token.redeem&source=portal-ip", { headers: { authorization: `Bearer ${s.adminKey}` }, ip: "127.0.0.1" })
    ).json()) as { items: { target: string; ip: string }[] };
    const row = audit.items.find((r) => r.target === tokenRefNo);
    assert.ok(row, "the redemption is audited");
    assert.equal(row.ip, client, "the audit row's address");
  });
});
