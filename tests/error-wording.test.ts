// Errors are written for a person, in each dialect's own shape: a missing
// field is "emailAddress is required", not the validator's "Invalid key:
// Expected …"; unknown routes and refused landings are never a bare {"error"}.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { createSource } from "./helpers/sources";

let s: TestServer;
before(async () => {
  s = await openTestServer();
});
after(() => s.close());

const VALIDATOR_WORDS = /Invalid (key|type|length)|Expected|received/;

describe("a missing or wrong field, in plain words", () => {
  test("Tyk: emailAddress is required; forSection must be one of its values", async () => {
    const missing = await s.request("POST", "/api/sso", { json: { displayName: "No Email" }, headers: { authorization: s.adminKey } });
    assert.equal(missing.status, 400);
    assert.deepEqual(await missing.json(), { errors: [{ title: "Bad Request", detail: "emailAddress is required" }] });
    const section = await s.request("POST", "/api/sso", {
      json: { emailAddress: "a@example.com", forSection: "kitchen" },
      headers: { authorization: s.adminKey },
    });
    const detail = ((await section.json()) as { errors: { detail: string }[] }).errors[0]!.detail;
    assert.equal(detail, 'forSection must be "dashboard" or "portal"');
  });

  test("line of business: Functionality is required", async () => {
    const source = await createSource(s, { code: "wording-lob" });
    const jwt = await new SignJWT({ client_id: source.clientId })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(source.clientSecret));
    const r = await s.request("POST", "/GenerateSSOToken", {
      json: { CIINo: "10001XXX", LOBId: "XX" },
      headers: { "x-api-version": "1.0.0", "x-lob-client-id": source.clientId, authorization: `Bearer ${jwt}` },
    });
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { ReturnCode: "0", ReturnMessage: "Bad Request: Functionality is required" });
  });

  test("native: each field named, in plain words, with a pointer", async () => {
    const r = await s.request("POST", "/v1/tokens", {
      json: { user: { email: 7 }, ttlSeconds: "soon", extra: true },
      headers: { authorization: `Bearer ${s.adminKey}` },
    });
    assert.equal(r.status, 400);
    const problem = (await r.json()) as { detail: string; errors: { pointer: string; detail: string }[] };
    assert.doesNotMatch(problem.detail, VALIDATOR_WORDS);
    assert.deepEqual(problem.errors, [
      { pointer: "/user/email", detail: "must be text" },
      { pointer: "/ttlSeconds", detail: "must be a number" },
      { pointer: "/extra", detail: "is not a field of this request" },
    ]);
  });

  test("api.php keeps the seed's codes and texts", async () => {
    const r = await s.request("POST", "/api.php", { json: { Command: "sso.create", APIKey: s.adminKey } });
    const body = (await r.json()) as { ErrorText: string[] };
    assert.deepEqual(body.ErrorText.slice(0, 2), ["Missing sourcename", "Missing sourcecode"]);
  });
});

describe("unknown routes and refused landings, in their dialect's shape", () => {
  test("an unknown /v1/* route is a problem+json 404", async () => {
    const r = await s.request("GET", "/v1/no-such-thing");
    assert.equal(r.status, 404);
    assert.equal(r.headers.get("content-type"), "application/problem+json");
    assert.deepEqual(await r.json(), { type: "urn:ssod:problem:not-found", title: "Not found", status: 404, detail: "no route GET /v1/no-such-thing" });
  });

  test("any other unknown path is a problem+json 404 too, never a bare {error}", async () => {
    const r = await s.request("GET", "/no-such-page");
    assert.equal(r.status, 404);
    assert.equal(r.headers.get("content-type"), "application/problem+json");
    assert.ok(!("error" in ((await r.json()) as object)));
  });

  test("/v1/login asked for JSON: a problem; asked for a page: a page", async () => {
    const json = await s.request("GET", "/v1/login?token=not-a-real-token-at-all", { headers: { accept: "application/json" } });
    assert.equal(json.status, 400);
    assert.equal(json.headers.get("content-type"), "application/problem+json");
    assert.equal(((await json.json()) as { type: string }).type, "urn:ssod:problem:invalid-token");
    const page = await s.request("GET", "/v1/login?token=not-a-real-token-at-all");
    assert.equal(page.status, 400);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  });

  test("/tap asked for JSON: seed 000's errors[]", async () => {
    const r = await s.request("GET", "/tap?nonce=not-a-real-nonce-at-all", { headers: { accept: "application/json" } });
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { errors: [{ title: "Bad Request", detail: "Invalid or expired token" }] });
  });
});
