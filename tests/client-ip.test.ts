// SPEC §5 "Client IP": behind the reverse proxy of docs/deploy.md (nginx with
// `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`, which appends
// the address it saw to whatever the client sent), the client is the
// rightmost address, never the leftmost one the client wrote. Throttling, IP
// allowlists and audit rows all use that one address.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { type CreatedSource, createSource } from "./helpers/sources";

const NGINX = "127.0.0.1";
const ATTACKER = "198.51.100.66";
const ALLOWED = "10.1.2.3";

/** What nginx sends on: the client's own X-Forwarded-For (if any), then the address nginx saw. */
const throughNginx = (clientSent: string | undefined, realAddress: string) => ({
  "x-forwarded-for": clientSent ? `${clientSent}, ${realAddress}` : realAddress,
});

async function lobToken(source: CreatedSource) {
  return new SignJWT({ client_id: source.clientId })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(source.clientSecret));
}

for (const trust of ["true", NGINX]) {
  describe(`SSOD_TRUST_PROXY=${trust}`, () => {
    let s: TestServer;
    let limited: CreatedSource;
    before(async () => {
      s = await openTestServer({ SSOD_TRUST_PROXY: trust, SSOD_THROTTLE_IP_LIMIT: "3" });
      limited = await createSource(s, { code: "limited", allowedIps: [ALLOWED] });
    });
    after(() => s.close());

    const generate = async (forwarded: Record<string, string>) =>
      s.request("POST", "/GenerateSSOToken", {
        json: { CIINo: "1", LOBId: "2", Functionality: "3" },
        headers: { "x-api-version": "1.0.0", "x-lob-client-id": limited.clientId, authorization: `Bearer ${await lobToken(limited)}`, ...forwarded },
        ip: NGINX,
      });

    test("a client that writes the allowed address into X-Forwarded-For is still outside the allowlist", async () => {
      assert.equal((await generate(throughNginx(ALLOWED, ATTACKER))).status, 406);
      assert.equal((await generate(throughNginx(undefined, ALLOWED))).status, 200);
      assert.equal((await generate(throughNginx(`${ATTACKER}, 192.0.2.1`, ALLOWED))).status, 200, "whatever the client wrote before the real address");
    });

    test("a client that writes a new address on every try is throttled at its real one, and audited under it", async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await s.request("GET", "/v1/sources", {
          headers: { authorization: `Bearer ssod_ak_${"x".repeat(43)}`, ...throughNginx(`203.0.113.${i}`, ATTACKER) },
          ip: NGINX,
        });
        statuses.push(r.status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429]);
      const audit = (await (
        await s.request("GET", "/v1/audit?action=admin.auth_failed", { headers: { authorization: `Bearer ${s.adminKey}` }, ip: "127.0.0.9" })
      ).json()) as {
        items: { ip: string }[];
      };
      assert.ok(audit.items.length > 0);
      for (const item of audit.items) assert.equal(item.ip, ATTACKER);
    });
  });
}
