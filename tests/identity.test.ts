// SPEC §5 "Identity": a token that carries an external id resolves only to
// the user with that external id in its org (or one found by email who has
// none yet), or creates one; it never signs in as, or renames, a user whose
// external id it contradicts. A source speaking for itself issues only for
// its orgIds.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, type CreatedSource, createSource } from "./helpers/sources";

let s: TestServer;
let admin: Record<string, string>;
let portal: CreatedSource;
let other: CreatedSource;

before(async () => {
  s = await openTestServer();
  admin = { authorization: `Bearer ${s.adminKey}` };
  portal = await createSource(s, { code: "portal-id" });
  other = await createSource(s, { code: "other-id" });
});
after(() => s.close());

async function issue(source: CreatedSource, user: Record<string, unknown>) {
  const r = await s.request("POST", "/v1/tokens", { json: { user }, headers: basicAuth(source) });
  assert.equal(r.status, 201, await r.clone().text());
  return ((await r.json()) as { token: string }).token;
}

async function redeem(token: string) {
  const r = await s.request("POST", "/v1/tokens/redeem", { json: { token }, headers: admin });
  return {
    status: r.status,
    body: (await r.json()) as { user?: { id: string; email: string; externalId: string | null; displayName: string | null; groups: string[] } },
  };
}

describe("a token's external id decides who it is", () => {
  test("another source's token {carol's email, MALLORY-9} does not sign in as Carol (CAROL-1), nor rename her: identity_conflict", async () => {
    const carol = await redeem(await issue(portal, { email: "carol@example.com", externalId: "CAROL-1", displayName: "Carol", groups: ["staff"] }));
    assert.equal(carol.status, 200);
    const attack = await redeem(await issue(other, { email: "Carol@Example.com", externalId: "MALLORY-9", displayName: "Mallory", groups: ["admins"] }));
    assert.equal(attack.status, 400, "the one indistinguishable refusal");
    const users = (await (await s.request("GET", "/v1/users?q=carol", { headers: admin })).json()) as {
      items: { id: string; displayName: string; groups: string[]; externalId: string }[];
    };
    assert.equal(users.items.length, 1, "no second user made with Carol's email");
    assert.deepEqual(
      { displayName: users.items[0]!.displayName, groups: users.items[0]!.groups, externalId: users.items[0]!.externalId },
      { displayName: "Carol", groups: ["staff"], externalId: "CAROL-1" },
    );
    const audit = (await (await s.request("GET", "/v1/audit?action=token.redeem_failed&source=other-id", { headers: admin })).json()) as {
      items: { detail: { reason: string } }[];
    };
    assert.equal(audit.items[0]!.detail.reason, "identity_conflict");
  });

  test("a user found by email with no external id yet takes the token's", async () => {
    const first = await redeem(await issue(portal, { email: "dana@example.com" }));
    assert.equal(first.body.user!.externalId, null);
    const second = await redeem(await issue(portal, { email: "dana@example.com", externalId: "DANA-7" }));
    assert.equal(second.status, 200);
    assert.equal(second.body.user!.id, first.body.user!.id);
    assert.equal(second.body.user!.externalId, "DANA-7");
    // From now on DANA-7 is who she is: a token with her email and another external id is refused.
    assert.equal((await redeem(await issue(portal, { email: "dana@example.com", externalId: "DANA-8" }))).status, 400);
  });

  test("a token without an external id resolves by email; one with the user's external id resolves whatever its email", async () => {
    const erin = await redeem(await issue(portal, { email: "erin@example.com", externalId: "ERIN-1" }));
    const byEmail = await redeem(await issue(portal, { email: "erin@example.com" }));
    assert.equal(byEmail.body.user!.id, erin.body.user!.id);
    const byId = await redeem(await issue(portal, { email: "erin.new@example.com", externalId: "ERIN-1" }));
    assert.equal(byId.body.user!.id, erin.body.user!.id);
  });
});

describe("orgIds: the orgs a source may issue for", () => {
  test("native: a source limited to org1 issues for org1 only; an admin key for it may issue for any", async () => {
    const limited = await createSource(s, { code: "org-limited", orgIds: ["org1"] });
    assert.deepEqual(limited.orgIds, ["org1"]);
    assert.equal(
      (await s.request("POST", "/v1/tokens", { json: { user: { email: "a@example.com", orgId: "org1" } }, headers: basicAuth(limited) })).status,
      201,
    );
    const refused = await s.request("POST", "/v1/tokens", { json: { user: { email: "a@example.com", orgId: "org2" } }, headers: basicAuth(limited) });
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { type: string }).type, "urn:ssod:problem:forbidden");
    assert.equal(
      (await s.request("POST", "/v1/tokens", { json: { user: { email: "a@example.com" } }, headers: basicAuth(limited) })).status,
      403,
      "the default org is not org1",
    );
    const byAdmin = await s.request("POST", "/v1/tokens", {
      json: { user: { email: "a@example.com", orgId: "org2" }, sourceCode: "org-limited" },
      headers: admin,
    });
    assert.equal(byAdmin.status, 201);
    const tyk = await s.request("POST", "/api/sso", { json: { emailAddress: "t@example.com", orgID: "org2" }, headers: basicAuth(limited) });
    assert.equal(tyk.status, 403, "the Tyk dialect too");
    const patched = await s.request("PATCH", `/v1/sources/${limited.id}`, { json: { orgIds: [] }, headers: admin });
    assert.deepEqual(((await patched.json()) as { orgIds: string[] }).orgIds, []);
    assert.equal(
      (await s.request("POST", "/v1/tokens", { json: { user: { email: "a@example.com", orgId: "org2" } }, headers: basicAuth(limited) })).status,
      201,
      "an empty list: any org",
    );
  });

  test("api.php: OrgIds as a comma-separated list (code 14 when invalid), shown by sso.get", async () => {
    const created = await s.request("POST", "/api.php", {
      form: { Command: "sso.create", APIKey: s.adminKey, SourceName: "Orgs", SourceCode: "legacy_orgs", ValidForSeconds: "60", OrgIds: "org1, org2" },
    });
    const { SSOSourceID } = (await created.json()) as { SSOSourceID: number };
    const got = (await (await s.request("POST", "/api.php", { form: { Command: "sso.get", APIKey: s.adminKey, SourceID: String(SSOSourceID) } })).json()) as {
      Source: { OrgIds: string[] };
    };
    assert.deepEqual(got.Source.OrgIds, ["org1", "org2"]);
    const bad = await s.request("POST", "/api.php", {
      json: { Command: "sso.create", APIKey: s.adminKey, SourceName: "Orgs", SourceCode: "legacy_orgs2", ValidForSeconds: 60, OrgIds: ["x".repeat(200)] },
    });
    assert.deepEqual(((await bad.json()) as { ErrorCode: number[] }).ErrorCode, [14]);
    // An update without OrgIds keeps them.
    await s.request("POST", "/api.php", {
      form: {
        Command: "sso.update",
        APIKey: s.adminKey,
        SourceID: String(SSOSourceID),
        SourceName: "Orgs 2",
        SourceCode: "legacy_orgs",
        ValidForSeconds: "60",
      },
    });
    const again = (await (await s.request("POST", "/api.php", { form: { Command: "sso.get", APIKey: s.adminKey, SourceID: String(SSOSourceID) } })).json()) as {
      Source: { OrgIds: string[]; SourceName: string };
    };
    assert.deepEqual([again.Source.SourceName, again.Source.OrgIds], ["Orgs 2", ["org1", "org2"]]);
  });
});
