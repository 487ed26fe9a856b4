// Apps (SPEC §6): /v1/apps and `ssod app create`, the validation a careful
// operator expects, a client secret shown once and sealed at rest, the one
// access rule, the way back to the portal, and the redirect URLs a portal
// token may name because of them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { appAdmits, loginUrlFor } from "../src/core/apps";
import { ssod } from "./helpers/cli";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, type CreatedSource, createSource } from "./helpers/sources";
import { tempDir } from "./helpers/temp";

let s: TestServer;
let admin: Record<string, string>;
let portal: CreatedSource;

before(async () => {
  s = await openTestServer({ SSOD_LOGIN_URL: "https://portal.example.com/start" });
  admin = { authorization: `Bearer ${s.adminKey}` };
  portal = await createSource(s, { code: "portal", redirectUrls: ["https://portal.example.com/welcome"] });
});
after(() => s.close());

type Json = Record<string, unknown>;
const send = async (method: string, path: string, json?: unknown) => {
  const r = await s.request(method, path, { ...(json === undefined ? {} : { json }), headers: admin });
  return { status: r.status, type: r.headers.get("content-type"), body: (r.status === 204 ? null : await r.json()) as Json };
};

const APP_KEYS = [
  "id",
  "name",
  "clientId",
  "tokenEndpointAuthMethod",
  "redirectUris",
  "postLogoutRedirectUris",
  "initiateLoginUri",
  "loginUrl",
  "allowedGroups",
  "orgIds",
  "idTokenSignedResponseAlg",
  "forwardAuth",
  "createdAt",
  "updatedAt",
].sort();

describe("/v1/apps", () => {
  test("create (201, the secret once), list, get, patch, rotate, delete", async () => {
    const made = await send("POST", "/v1/apps", {
      name: "Wiki",
      redirectUris: ["https://wiki.example.com/callback"],
      forwardAuth: { hosts: ["Wiki.Example.com"] },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.deepEqual(Object.keys(made.body).sort(), [...APP_KEYS, "clientSecret"].sort());
    assert.match(String(made.body.clientId), /^app_[A-Za-z0-9_-]{16}$/);
    assert.match(String(made.body.clientSecret), /^ssod_as_[A-Za-z0-9_-]{43}$/);
    assert.equal(made.body.tokenEndpointAuthMethod, "client_secret_basic");
    assert.equal(made.body.idTokenSignedResponseAlg, "RS256");
    assert.deepEqual(made.body.forwardAuth, { hosts: ["wiki.example.com"], pathPrefixes: ["/"] });
    const id = made.body.id as number;

    const listed = await send("GET", "/v1/apps");
    const one = (listed.body.items as Json[]).find((a) => a.id === id)!;
    assert.deepEqual(Object.keys(one).sort(), APP_KEYS, "no secret in a list");
    const got = await send("GET", `/v1/apps/${made.body.clientId}`);
    assert.equal(got.body.id, id, "found by client id too");
    assert.ok(!("clientSecret" in got.body));

    const patched = await send("PATCH", `/v1/apps/${id}`, { allowedGroups: ["staff"], orgIds: ["org1"] });
    assert.deepEqual([patched.body.allowedGroups, patched.body.orgIds, patched.body.name], [["staff"], ["org1"], "Wiki"]);
    assert.equal(patched.body.clientSecret, null, "a patch shows no secret");

    const rotated = await send("POST", `/v1/apps/${id}/secret`);
    assert.equal(rotated.status, 200);
    assert.match(String(rotated.body.clientSecret), /^ssod_as_/);
    assert.notEqual(rotated.body.clientSecret, made.body.clientSecret);

    // Sealed at rest: neither secret is in the store's files.
    const files = ["ssod.db", "ssod.db-wal"].map((f) => {
      try {
        return readFileSync(join(s.dir, f), "latin1");
      } catch {
        return "";
      }
    });
    for (const secret of [made.body.clientSecret, rotated.body.clientSecret])
      assert.ok(!files.some((f) => f.includes(String(secret))), "a client secret is sealed at rest");

    assert.equal((await send("DELETE", `/v1/apps/${id}`)).status, 204);
    assert.equal((await send("GET", `/v1/apps/${id}`)).status, 404);
    const audit = (await send("GET", "/v1/audit?limit=20")).body.items as { action: string; target: string }[];
    const trail = audit.filter((e) => e.target === made.body.clientId).map((e) => e.action);
    assert.deepEqual(trail, ["app.delete", "app.rotate_secret", "app.update", "app.create"]);
    assert.ok(!JSON.stringify(audit).includes(String(made.body.clientSecret)));
  });

  test("a public app has no secret, and none to rotate; made confidential, it gets one", async () => {
    const made = await send("POST", "/v1/apps", { name: "SPA", tokenEndpointAuthMethod: "none", redirectUris: ["http://localhost:3000/cb"] });
    assert.equal(made.status, 201);
    assert.equal(made.body.clientSecret, null);
    assert.equal((await send("POST", `/v1/apps/${made.body.id}/secret`)).status, 403);
    const confidential = await send("PATCH", `/v1/apps/${made.body.id}`, { tokenEndpointAuthMethod: "client_secret_post" });
    assert.match(String(confidential.body.clientSecret), /^ssod_as_/);
    const again = await send("PATCH", `/v1/apps/${made.body.id}`, { tokenEndpointAuthMethod: "client_secret_basic" });
    assert.equal(again.body.clientSecret, null, "a confidential app keeps its secret and shows none");
  });

  test("validation: each rule refused with a plain problem naming the field", async () => {
    const cases: [Json, string, RegExp][] = [
      [{ name: "" }, "/name", /empty/],
      [{ name: "x", redirectUris: ["/relative"] }, "/redirectUris/0", /absolute/],
      [{ name: "x", redirectUris: ["https://a.example.com/cb#frag"] }, "/redirectUris/0", /fragment/],
      [{ name: "x", redirectUris: ["http://a.example.com/cb"] }, "/redirectUris/0", /https/],
      [{ name: "x", redirectUris: ["https://user:pw@a.example.com/cb"] }, "/redirectUris/0", /user name/],
      [{ name: "x", postLogoutRedirectUris: ["http://evil.example/"] }, "/postLogoutRedirectUris/0", /https/],
      [{ name: "x", forwardAuth: { hosts: ["a.example.com:8443"] } }, "/forwardAuth/hosts/0", /without a port/],
      [{ name: "x", forwardAuth: { hosts: ["*.*.example.com"] } }, "/forwardAuth/hosts/0", /one label/],
      [{ name: "x", forwardAuth: { hosts: ["exa mple.com"] } }, "/forwardAuth/hosts/0", /host name/],
      [{ name: "x", forwardAuth: { hosts: [] } }, "/forwardAuth/hosts", /at least one/],
      [{ name: "x", forwardAuth: { hosts: ["a.example.com"], pathPrefixes: ["admin"] } }, "/forwardAuth/pathPrefixes/0", /starting with \//],
      [{ name: "x", tokenEndpointAuthMethod: "private_key_jwt" }, "/tokenEndpointAuthMethod", /client_secret_basic/],
      [{ name: "x", idTokenSignedResponseAlg: "HS256" }, "/idTokenSignedResponseAlg", /RS256/],
      [{ name: "x", loginUrl: "javascript:alert(1)" }, "/loginUrl", /http/],
    ];
    for (const [body, pointer, message] of cases) {
      const r = await send("POST", "/v1/apps", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.type, "application/problem+json");
      const error = (r.body.errors as { pointer: string; detail: string }[]).find((e) => e.pointer === pointer);
      assert.ok(error, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.match(error.detail, message);
    }
    // http for loopback hosts is a developer's machine: allowed.
    for (const uri of ["http://127.0.0.1:8080/cb", "http://localhost/cb", "http://[::1]:9000/cb"]) {
      assert.equal((await send("POST", "/v1/apps", { name: "dev", redirectUris: [uri] })).status, 201, uri);
    }
    assert.equal((await send("POST", "/v1/apps", { name: "wild", forwardAuth: { hosts: ["*.apps.example.com"] } })).status, 201);
  });

  test("ssod app create prints the client id and secret; --public makes none", async () => {
    const dir = tempDir();
    const env = { SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}` };
    assert.equal((await ssod(["migrate"], { env })).code, 0, "the CLI works on an existing store only");
    const made = await ssod(
      ["app", "create", "--name", "Grafana", "--redirect-uri", "https://grafana.example.com/login/generic_oauth", "--forward-auth-host", "grafana.example.com"],
      { env },
    );
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /client id\s+app_[A-Za-z0-9_-]{16}/);
    assert.match(made.stdout, /client secret\s+ssod_as_[A-Za-z0-9_-]{43}/);
    const pub = await ssod(["app", "create", "--name", "SPA", "--redirect-uri", "http://localhost:5173/cb", "--public"], { env });
    assert.equal(pub.code, 0, pub.stderr);
    assert.match(pub.stdout, /client secret\s+\(none/);
    const bad = await ssod(["app", "create", "--name", "Bad", "--redirect-uri", "http://example.com/cb"], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--redirect-uri/);
  });
});

describe("the access rule (one for OpenID Connect and forward auth)", () => {
  const names = fc.constantFrom("staff", "admins", "ops", "guests", "sales");
  const orgs = fc.constantFrom("", "org1", "org2", "org3");

  test("empty lists admit everyone", () => {
    fc.assert(fc.property(fc.array(names), orgs, (groups, orgId) => appAdmits({ allowedGroups: [], orgIds: [] }, { groups, orgId })));
  });

  test("a user is admitted exactly when sharing a group (or none listed) and in a listed org (or none listed)", () => {
    fc.assert(
      fc.property(fc.uniqueArray(names), fc.uniqueArray(orgs), fc.array(names), orgs, (allowedGroups, orgIds, groups, orgId) => {
        const expected = (allowedGroups.length === 0 || groups.some((g) => allowedGroups.includes(g))) && (orgIds.length === 0 || orgIds.includes(orgId));
        return appAdmits({ allowedGroups, orgIds }, { groups, orgId }) === expected;
      }),
    );
  });

  test("a user outside either list is refused", () => {
    fc.assert(
      fc.property(fc.uniqueArray(names, { minLength: 1 }), fc.uniqueArray(orgs, { minLength: 1 }), (allowedGroups, orgIds) => {
        const outsider = { groups: ["nobody-has-this"], orgId: "org-nobody" };
        return (
          !appAdmits({ allowedGroups, orgIds }, outsider) &&
          !appAdmits({ allowedGroups: [], orgIds }, outsider) &&
          !appAdmits({ allowedGroups, orgIds: [] }, outsider)
        );
      }),
    );
  });
});

describe("the way back to the portal", () => {
  test("return_to is added with ? or &, encoded; the app's loginUrl wins over SSOD_LOGIN_URL; none named: no URL", () => {
    const core = s.runtime.core;
    const back = "https://wiki.example.com/page?x=1&y=2";
    assert.equal(loginUrlFor(core, { loginUrl: null }, back), `https://portal.example.com/start?return_to=${encodeURIComponent(back)}`);
    assert.equal(
      loginUrlFor(core, { loginUrl: "https://sso.corp.example/login?lang=en" }, back),
      `https://sso.corp.example/login?lang=en&return_to=${encodeURIComponent(back)}`,
    );
    const plain = { ...core, settings: { ...core.settings, loginUrl: null } };
    assert.equal(loginUrlFor(plain, { loginUrl: null }, back), undefined);
  });
});

describe("a portal token may send the browser back to ssod, or to a host an app protects", () => {
  const issue = (redirectUrl: string) =>
    s.request("POST", "/v1/tokens", { json: { user: { email: "back@example.com" }, redirectUrl }, headers: basicAuth(portal) });

  test("an ssod URL and an app-protected host are accepted, and followed at the landing", async () => {
    assert.equal((await send("POST", "/v1/apps", { name: "Protected", forwardAuth: { hosts: ["protected.example.com", "*.tools.example.com"] } })).status, 201);
    for (const url of [
      "http://ssod.test/oidc/interaction/abc",
      "https://protected.example.com/deep/page?q=1",
      "https://grafana.tools.example.com/",
      "https://protected.example.com:8443/x",
    ]) {
      const r = await issue(url);
      assert.equal(r.status, 201, `${url}: ${await r.clone().text()}`);
      const { token } = (await r.json()) as { token: string };
      const landed = await s.request("GET", `/v1/login?token=${token}`);
      assert.equal(landed.status, 303);
      assert.equal(landed.headers.get("location"), new URL(url).href);
    }
  });

  test("any other host is still refused", async () => {
    for (const url of [
      "https://evil.example.com/",
      "https://protected.example.com.evil.example/",
      "https://a.b.tools.example.com/",
      "https://ssod.test.evil.example/",
    ]) {
      const r = await issue(url);
      assert.equal(r.status, 400, url);
      assert.equal(((await r.json()) as { type: string }).type, "urn:ssod:problem:redirect-not-allowed");
    }
    assert.equal((await issue("javascript:alert(1)")).status, 400, "not even an http URL");
  });
});
