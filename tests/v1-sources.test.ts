// The native source API (SPEC §3): /v1/sources and its secrets, problem+json
// errors, admin authentication, and GET /v1/audit (newest first, cursor
// paging, filters, never a secret). Through the real HTTP surface on a real
// libSQL file.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { openTestServer, type RequestOptions, type TestServer } from "./helpers/runtime";
import { basicAuth, createSource as createSourceOn } from "./helpers/sources";

type Json = Record<string, unknown>;

const SOURCE_KEYS = [
  "id",
  "code",
  "name",
  "description",
  "expiresAt",
  "validForSeconds",
  "options",
  "clientId",
  "allowedIps",
  "redirectUrls",
  "identityProvider",
  "orgIds",
  "landing",
  "createdAt",
  "updatedAt",
].sort();
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

let s: TestServer;
let admin: Record<string, string>;
let seq = 0;
const fresh = (prefix = "v1") => `${prefix}_${++seq}_${Date.now().toString(36)}`;
/** Every secret this file has seen, to look for in the audit log. */
const secretsSeen: string[] = [];

async function send(method: string, path: string, options: RequestOptions = {}) {
  const r = await s.request(method, path, { headers: admin, ...options, ...(options.headers ? { headers: { ...admin, ...options.headers } } : {}) });
  const text = await r.text();
  assert.ok(r.status < 500, `never a 5xx: ${method} ${path} → ${r.status} ${text}`);
  return { status: r.status, headers: r.headers, text, body: text ? (JSON.parse(text) as Json) : undefined };
}

/** A source with a fresh code; its secrets are remembered, to look for in the audit log. */
async function createSource(extra: Json = {}): Promise<Json> {
  const body = await createSourceOn(s, { code: fresh(), name: "A source", validForSeconds: 120, ...extra });
  secretsSeen.push(body.clientSecret, body.signingSecret);
  return body;
}

function assertProblem(r: { status: number; headers: Headers; body?: Json }, status: number) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(r.headers.get("content-type") ?? "", /^application\/problem\+json/);
  const body = r.body!;
  assert.equal(typeof body.type, "string");
  assert.ok((body.type as string).length > 0);
  assert.equal(typeof body.title, "string");
  assert.ok((body.title as string).length > 0);
  assert.equal(body.status, status);
}

function pointers(body: Json | undefined): string[] {
  return ((body?.errors ?? []) as { pointer: string; detail: string }[]).map((e) => e.pointer);
}

const basic = (clientId: unknown, secret: unknown) => basicAuth({ clientId: String(clientId), clientSecret: String(secret) });

before(async () => {
  s = await openTestServer();
  admin = { authorization: `Bearer ${s.adminKey}` };
  secretsSeen.push(s.adminKey);
});
after(() => s?.close());

// ---------------------------------------------------------------------------
describe("POST /v1/sources", () => {
  test("201 with the SPEC §3 shape plus clientSecret and signingSecret, and a Location", async () => {
    const code = fresh("full");
    const r = await send("POST", "/v1/sources", {
      json: {
        code,
        name: "Portal",
        description: "The portal",
        expiresAt: "2031-12-31T23:59:59Z",
        validForSeconds: 600,
        options: { createNewUserIfNotExists: false, performLogin: true, returnUserData: false },
        allowedIps: ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"],
        redirectUrls: ["https://app.example.com/sso/callback"],
        identityProvider: {
          issuer: "https://idp.example.com",
          jwksUrl: "https://idp.example.com/.well-known/jwks.json",
          audience: "ssod",
          requiredScope: "sso/issue",
        },
      },
    });
    assert.equal(r.status, 201, r.text);
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
    const body = r.body!;
    secretsSeen.push(String(body.clientSecret), String(body.signingSecret));
    assert.deepEqual(Object.keys(body).sort(), [...SOURCE_KEYS, "clientSecret", "signingSecret"].sort());
    assert.equal(typeof body.id, "number");
    assert.equal(body.code, code);
    assert.equal(body.name, "Portal");
    assert.equal(body.description, "The portal");
    assert.equal(Date.parse(String(body.expiresAt)), Date.parse("2031-12-31T23:59:59Z"));
    assert.match(String(body.expiresAt), RFC3339);
    assert.equal(body.validForSeconds, 600);
    assert.deepEqual(body.options, { createNewUserIfNotExists: false, performLogin: true, returnUserData: false });
    assert.equal(typeof body.clientId, "string");
    assert.ok((body.clientId as string).length > 0);
    assert.deepEqual(body.allowedIps, ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]);
    assert.deepEqual(body.redirectUrls, ["https://app.example.com/sso/callback"]);
    assert.deepEqual(body.identityProvider, {
      issuer: "https://idp.example.com",
      jwksUrl: "https://idp.example.com/.well-known/jwks.json",
      audience: "ssod",
      requiredScope: "sso/issue",
    });
    assert.match(String(body.createdAt), RFC3339);
    assert.match(String(body.updatedAt), RFC3339);
    assert.match(String(body.clientSecret), /^ssod_cs_[A-Za-z0-9_-]{20,}$/);
    assert.match(String(body.signingSecret), /^ssod_ss_[A-Za-z0-9_-]{20,}$/);
    assert.notEqual(body.clientSecret, body.signingSecret);
    const location = r.headers.get("location");
    assert.ok(location === `/v1/sources/${body.id}` || location?.endsWith(`/v1/sources/${body.id}`), `Location: ${location}`);
  });

  test("defaults: options all on, no expiry, empty lists, no identity provider", async () => {
    const body = await createSource({ code: fresh("min"), name: "Minimal", validForSeconds: 30 });
    assert.equal(body.expiresAt, null);
    assert.equal(body.description, "");
    assert.deepEqual(body.options, { createNewUserIfNotExists: true, performLogin: true, returnUserData: true });
    assert.deepEqual(body.allowedIps, []);
    assert.deepEqual(body.redirectUrls, []);
    assert.equal(body.identityProvider, null);
  });

  test("every source gets its own secrets and client id", async () => {
    const a = await createSource();
    const b = await createSource();
    assert.notEqual(a.clientSecret, b.clientSecret);
    assert.notEqual(a.signingSecret, b.signingSecret);
    assert.notEqual(a.clientId, b.clientId);
  });

  test("the new client secret works as HTTP Basic credentials", async () => {
    const src = await createSource();
    const r = await send("POST", "/v1/tokens", { json: { user: { email: "basic@example.com" } }, headers: basic(src.clientId, src.clientSecret) });
    assert.equal(r.status, 201, r.text);
  });

  test("409 problem on a duplicate code (and on the default source's code)", async () => {
    const code = fresh("dup");
    await createSource({ code });
    const r = await send("POST", "/v1/sources", { json: { code, name: "again", validForSeconds: 5 } });
    assertProblem(r, 409);
    assert.ok(!("clientSecret" in r.body!));
    const d = await send("POST", "/v1/sources", { json: { code: "default", name: "again", validForSeconds: 5 } });
    assertProblem(d, 409);
  });

  test("400 problem with `errors` pointers for each invalid field", async () => {
    const cases: [Json, string[]][] = [
      [{ code: "bad code!", name: "n", validForSeconds: 5 }, ["/code"]],
      [{ code: "", name: "n", validForSeconds: 5 }, ["/code"]],
      [{ code: fresh(), name: "n", validForSeconds: 0 }, ["/validForSeconds"]],
      [{ code: fresh(), name: "n", validForSeconds: 1.5 }, ["/validForSeconds"]],
      [{ code: fresh(), name: "n", validForSeconds: "60" }, ["/validForSeconds"]],
      [{ code: fresh(), name: "n", validForSeconds: 5, allowedIps: ["10.0.0.0/33"] }, ["/allowedIps/0"]],
      [{ code: fresh(), name: "n", validForSeconds: 5, allowedIps: ["10.0.0.1", "not-an-ip"] }, ["/allowedIps/1"]],
      [{ code: fresh(), name: "n", validForSeconds: 5, redirectUrls: ["ftp://files.example.com/x"] }, ["/redirectUrls/0"]],
      [{ code: fresh(), name: "n", validForSeconds: 5, redirectUrls: ["javascript:alert(1)"] }, ["/redirectUrls/0"]],
      [{ code: fresh(), name: "n", validForSeconds: 5, surprise: true }, ["/surprise"]],
      [{ code: fresh(), name: "n", validForSeconds: 5, expiresAt: "2030-12-31 23:59:59" }, ["/expiresAt"]],
      [{ code: fresh(), name: "n", validForSeconds: 5, options: { performLogin: "yes" } }, ["/options/performLogin"]],
      [{ code: fresh(), name: "", validForSeconds: 5 }, ["/name"]],
      [{ code: fresh(), validForSeconds: 5 }, ["/name"]],
      [{ code: fresh(), name: "n" }, ["/validForSeconds"]],
    ];
    for (const [json, expected] of cases) {
      const r = await send("POST", "/v1/sources", { json });
      assertProblem(r, 400);
      assert.deepEqual(pointers(r.body), expected, `${JSON.stringify(json)} → ${r.text}`);
      for (const e of r.body!.errors as { detail: string }[]) assert.ok(e.detail.length > 0);
    }
  });

  test("400 lists every invalid field at once", async () => {
    const r = await send("POST", "/v1/sources", {
      json: { code: "no good", name: "n", validForSeconds: 0, allowedIps: ["300.1.1.1"], redirectUrls: ["ftp://x"], extra: 1 },
    });
    assertProblem(r, 400);
    assert.deepEqual(pointers(r.body).sort(), ["/allowedIps/0", "/code", "/extra", "/redirectUrls/0", "/validForSeconds"].sort());
  });

  test("a refused create stores nothing", async () => {
    const code = fresh("refused");
    const r = await send("POST", "/v1/sources", { json: { code, name: "n", validForSeconds: 0 } });
    assertProblem(r, 400);
    assertProblem(await send("GET", `/v1/sources/${code}`), 404);
  });

  test("415 problem for a body that is not JSON", async () => {
    const form = await send("POST", "/v1/sources", { form: { code: fresh(), name: "n", validForSeconds: "5" } });
    assertProblem(form, 415);
    const text = await send("POST", "/v1/sources", {
      body: JSON.stringify({ code: fresh(), name: "n", validForSeconds: 5 }),
      headers: { "content-type": "text/plain" },
    });
    assertProblem(text, 415);
    const none = await send("POST", "/v1/sources", { body: JSON.stringify({ code: fresh(), name: "n", validForSeconds: 5 }) });
    assertProblem(none, 415);
  });

  test("400 problem for malformed JSON; 413 problem for a body over 64 KiB", async () => {
    const bad = await send("POST", "/v1/sources", { body: '{"code":', headers: { "content-type": "application/json" } });
    assertProblem(bad, 400);
    const big = await send("POST", "/v1/sources", { json: { code: fresh(), name: "n", validForSeconds: 5, description: "d".repeat(70_000) } });
    assertProblem(big, 413);
  });
});

// ---------------------------------------------------------------------------
describe("GET /v1/sources", () => {
  test("list and get never show secrets", async () => {
    const src = await createSource();
    const list = await send("GET", "/v1/sources");
    assert.equal(list.status, 200);
    const items = (list.body!.items ?? []) as Json[];
    const listed = items.find((i) => i.id === src.id);
    assert.ok(listed, "listed");
    assert.deepEqual(Object.keys(listed).sort(), SOURCE_KEYS);
    const one = await send("GET", `/v1/sources/${src.id}`);
    assert.equal(one.status, 200);
    assert.deepEqual(Object.keys(one.body!).sort(), SOURCE_KEYS);
    for (const text of [list.text, one.text]) {
      assert.ok(!text.includes(String(src.clientSecret)));
      assert.ok(!text.includes(String(src.signingSecret)));
      assert.doesNotMatch(text, /ssod_(cs|ss|ak)_/);
      assert.doesNotMatch(text, /secret/i);
    }
  });

  test("by id and by code: the same source, as created", async () => {
    const created = await createSource({ description: "fetch me", options: { performLogin: false } });
    const { clientSecret: _c, signingSecret: _s, ...view } = created;
    const byId = await send("GET", `/v1/sources/${created.id}`);
    const byCode = await send("GET", `/v1/sources/${created.code}`);
    assert.equal(byId.status, 200);
    assert.equal(byCode.status, 200);
    assert.deepEqual(byId.body, view);
    assert.deepEqual(byCode.body, view);
  });

  test("the default source: validForSeconds 60, all three options on", async () => {
    const r = await send("GET", "/v1/sources/default");
    assert.equal(r.status, 200);
    assert.equal(r.body!.code, "default");
    assert.equal(r.body!.validForSeconds, 60);
    assert.deepEqual(r.body!.options, { createNewUserIfNotExists: true, performLogin: true, returnUserData: true });
  });

  test("404 problem for an unknown id or code", async () => {
    assertProblem(await send("GET", "/v1/sources/987654"), 404);
    assertProblem(await send("GET", "/v1/sources/no_such_code"), 404);
  });
});

// ---------------------------------------------------------------------------
describe("PATCH /v1/sources/{id}", () => {
  test("changes only the fields given", async () => {
    const src = await createSource({
      name: "Before",
      description: "kept",
      validForSeconds: 100,
      options: { createNewUserIfNotExists: false, performLogin: false, returnUserData: false },
      allowedIps: ["10.1.0.0/16"],
      redirectUrls: ["https://kept.example.com/cb"],
    });
    const r = await send("PATCH", `/v1/sources/${src.id}`, { json: { name: "After", options: { performLogin: true } } });
    assert.equal(r.status, 200, r.text);
    const body = r.body!;
    assert.deepEqual(Object.keys(body).sort(), SOURCE_KEYS);
    assert.equal(body.name, "After");
    assert.equal(body.code, src.code);
    assert.equal(body.description, "kept");
    assert.equal(body.validForSeconds, 100);
    assert.deepEqual(body.options, { createNewUserIfNotExists: false, performLogin: true, returnUserData: false });
    assert.deepEqual(body.allowedIps, ["10.1.0.0/16"]);
    assert.deepEqual(body.redirectUrls, ["https://kept.example.com/cb"]);
    assert.equal(body.clientId, src.clientId);
    assert.equal(body.createdAt, src.createdAt);
    assert.ok(Date.parse(String(body.updatedAt)) >= Date.parse(String(src.updatedAt)));
    assert.doesNotMatch(r.text, /ssod_(cs|ss)_/);
    assert.deepEqual((await send("GET", `/v1/sources/${src.id}`)).body, body);
  });

  test("by code; a new code; expiresAt set and cleared with null", async () => {
    const src = await createSource();
    const newCode = fresh("renamed");
    const r = await send("PATCH", `/v1/sources/${src.code}`, { json: { code: newCode, expiresAt: "2032-01-01T00:00:00Z" } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body!.code, newCode);
    assert.equal(Date.parse(String(r.body!.expiresAt)), Date.parse("2032-01-01T00:00:00Z"));
    assertProblem(await send("GET", `/v1/sources/${src.code}`), 404);
    const cleared = await send("PATCH", `/v1/sources/${src.id}`, { json: { expiresAt: null } });
    assert.equal(cleared.status, 200);
    assert.equal(cleared.body!.expiresAt, null);
  });

  test("409 on a code another source uses; 404 unknown; 400 invalid; 415 not JSON", async () => {
    const a = await createSource();
    const b = await createSource();
    assertProblem(await send("PATCH", `/v1/sources/${b.id}`, { json: { code: a.code } }), 409);
    assert.equal((await send("GET", `/v1/sources/${b.id}`)).body!.code, b.code);
    assertProblem(await send("PATCH", "/v1/sources/987654", { json: { name: "x" } }), 404);
    const invalid = await send("PATCH", `/v1/sources/${b.id}`, { json: { validForSeconds: 0, allowedIps: ["1.2.3.4/99"], unknownField: 1 } });
    assertProblem(invalid, 400);
    assert.deepEqual(pointers(invalid.body).sort(), ["/allowedIps/0", "/unknownField", "/validForSeconds"]);
    assertProblem(await send("PATCH", `/v1/sources/${b.id}`, { form: { name: "x" } }), 415);
  });

  test("the default source's code cannot be changed: 403 forbidden at /code", async () => {
    const r = await send("PATCH", "/v1/sources/default", { json: { code: fresh("notdefault") } });
    assertProblem(r, 403);
    assert.equal(r.body!.type, "urn:ssod:problem:forbidden");
    assert.deepEqual(pointers(r.body), ["/code"]);
    assert.equal((await send("GET", "/v1/sources/default")).status, 200);
  });
});

// ---------------------------------------------------------------------------
describe("DELETE /v1/sources/{id} and secret rotation", () => {
  test("204 with no body, then 404", async () => {
    const src = await createSource();
    const r = await send("DELETE", `/v1/sources/${src.id}`);
    assert.equal(r.status, 204);
    assert.equal(r.text, "");
    assertProblem(await send("GET", `/v1/sources/${src.id}`), 404);
    assertProblem(await send("DELETE", `/v1/sources/${src.id}`), 404);
    // Its credentials die with it.
    const issue = await send("POST", "/v1/tokens", {
      json: { user: { email: "x@example.com" } },
      headers: basic(src.clientId, src.clientSecret),
      ip: "192.0.2.50",
    });
    assertProblem(issue, 401);
  });

  test("delete by code", async () => {
    const src = await createSource();
    assert.equal((await send("DELETE", `/v1/sources/${src.code}`)).status, 204);
    assertProblem(await send("GET", `/v1/sources/${src.code}`), 404);
  });

  test("the default source cannot be deleted: 403", async () => {
    assertProblem(await send("DELETE", "/v1/sources/default"), 403);
    const byId = (await send("GET", "/v1/sources/default")).body!.id;
    assertProblem(await send("DELETE", `/v1/sources/${byId}`), 403);
    assert.equal((await send("GET", "/v1/sources/default")).status, 200);
  });

  test("POST /v1/sources/{id}/secret rotates both secrets; the old client secret stops working", async () => {
    const src = await createSource();
    const r = await send("POST", `/v1/sources/${src.id}/secret`);
    assert.equal(r.status, 200, r.text);
    const body = r.body!;
    secretsSeen.push(String(body.clientSecret), String(body.signingSecret));
    assert.deepEqual(Object.keys(body).sort(), [...SOURCE_KEYS, "clientSecret", "signingSecret"].sort());
    assert.match(String(body.clientSecret), /^ssod_cs_/);
    assert.match(String(body.signingSecret), /^ssod_ss_/);
    assert.notEqual(body.clientSecret, src.clientSecret);
    assert.notEqual(body.signingSecret, src.signingSecret);
    assert.equal(body.id, src.id);
    assert.equal(body.clientId, src.clientId);
    assert.equal(body.code, src.code);

    const old = await send("POST", "/v1/tokens", {
      json: { user: { email: "old@example.com" } },
      headers: basic(src.clientId, src.clientSecret),
      ip: "192.0.2.51",
    });
    assertProblem(old, 401);
    const fresh2 = await send("POST", "/v1/tokens", { json: { user: { email: "new@example.com" } }, headers: basic(body.clientId, body.clientSecret) });
    assert.equal(fresh2.status, 201, fresh2.text);

    const again = await send("POST", `/v1/sources/${src.code}/secret`);
    assert.equal(again.status, 200);
    secretsSeen.push(String(again.body!.clientSecret), String(again.body!.signingSecret));
    assert.notEqual(again.body!.clientSecret, body.clientSecret);
  });

  test("rotating an unknown source → 404", async () => {
    assertProblem(await send("POST", "/v1/sources/987654/secret"), 404);
  });
});

// ---------------------------------------------------------------------------
describe("authentication of /v1/sources", () => {
  const noAuth = (method: string, path: string, options: RequestOptions = {}) => s.request(method, path, { ...options, ip: options.ip ?? "192.0.2.10" });

  async function assert401(r: Response) {
    assert.equal(r.status, 401);
    assert.match(r.headers.get("content-type") ?? "", /^application\/problem\+json/);
    assert.ok((r.headers.get("www-authenticate") ?? "").length > 0, "WWW-Authenticate");
    assert.match(r.headers.get("www-authenticate") ?? "", /Bearer/i);
    const body = (await r.json()) as Json;
    assert.equal(body.status, 401);
    assert.equal(typeof body.type, "string");
    assert.equal(typeof body.title, "string");
    return body;
  }

  test("401 without an Authorization header, on every route", async () => {
    await assert401(await noAuth("GET", "/v1/sources"));
    await assert401(await noAuth("GET", "/v1/sources/default"));
    await assert401(await noAuth("POST", "/v1/sources", { json: { code: fresh(), name: "n", validForSeconds: 5 } }));
    await assert401(await noAuth("PATCH", "/v1/sources/default", { json: { name: "pwned" } }));
    await assert401(await noAuth("DELETE", "/v1/sources/default"));
    await assert401(await noAuth("POST", "/v1/sources/default/secret"));
    await assert401(await noAuth("GET", "/v1/audit"));
  });

  test("401 with a bad key, a malformed header, or a key under the wrong scheme", async () => {
    const wrong = `ssod_ak_${randomBytes(32).toString("base64url")}`;
    for (const authorization of [
      `Bearer ${wrong}`,
      "Bearer",
      "Bearer not-a-key",
      `Token ${s.adminKey}`,
      s.adminKey,
      `Basic ${Buffer.from("x:y").toString("base64")}`,
    ]) {
      await assert401(await noAuth("GET", "/v1/sources", { headers: { authorization }, ip: "192.0.2.11" }));
    }
    // Nothing was created by an unauthenticated POST.
    const code = fresh("unauth");
    await assert401(
      await noAuth("POST", "/v1/sources", { json: { code, name: "n", validForSeconds: 5 }, headers: { authorization: `Bearer ${wrong}` }, ip: "192.0.2.12" }),
    );
    assertProblem(await send("GET", `/v1/sources/${code}`), 404);
  });

  test("a source's own credentials are not an admin: 403 forbidden", async () => {
    const src = await createSource();
    const r = await s.request("GET", "/v1/sources", { headers: basic(src.clientId, src.clientSecret) });
    assert.equal(r.status, 403);
    assert.match(r.headers.get("content-type") ?? "", /^application\/problem\+json/);
    assert.equal(((await r.json()) as Json).type, "urn:ssod:problem:forbidden");
  });

  test("the bad key never appears in the audit", async () => {
    const wrong = `ssod_ak_${randomBytes(32).toString("base64url")}`;
    await assert401(await noAuth("GET", "/v1/sources", { headers: { authorization: `Bearer ${wrong}` }, ip: "192.0.2.13" }));
    const audit = await send("GET", "/v1/audit?action=admin.auth_failed&limit=500");
    assert.equal(audit.status, 200);
    const items = audit.body!.items as Json[];
    assert.ok(
      items.some((i) => i.ip === "192.0.2.13"),
      "failure audited",
    );
    assert.ok(!audit.text.includes(wrong));
  });
});

// ---------------------------------------------------------------------------
describe("GET /v1/audit", () => {
  test("source changes are audited, newest first, with the source's code", async () => {
    const src = await createSource();
    const code = String(src.code);
    const renamed = fresh("aud");
    assert.equal((await send("PATCH", `/v1/sources/${src.id}`, { json: { name: "changed" } })).status, 200);
    const rotated = await send("POST", `/v1/sources/${src.id}/secret`);
    secretsSeen.push(String(rotated.body!.clientSecret), String(rotated.body!.signingSecret));
    assert.equal((await send("PATCH", `/v1/sources/${src.id}`, { json: { code: renamed } })).status, 200);
    assert.equal((await send("DELETE", `/v1/sources/${src.id}`)).status, 204);

    const before = await send("GET", `/v1/audit?source=${code}`);
    assert.equal(before.status, 200);
    const old = before.body!.items as Json[];
    assert.deepEqual(
      old.map((i) => i.action),
      ["source.rotate_secret", "source.update", "source.create"],
      before.text,
    );
    for (const item of old) {
      assert.equal(item.sourceCode, code);
      assert.equal(item.outcome, "success");
      assert.match(String(item.at), RFC3339);
      assert.ok(String(item.actor).length > 0);
    }
    const after = await send("GET", `/v1/audit?source=${renamed}`);
    assert.deepEqual(
      (after.body!.items as Json[]).map((i) => i.action),
      ["source.delete", "source.update"],
      after.text,
    );
  });

  test("newest first: ids strictly descending, times never increasing", async () => {
    for (let i = 0; i < 3; i++) await createSource();
    const r = await send("GET", "/v1/audit?limit=500");
    const items = r.body!.items as Json[];
    assert.ok(items.length >= 3);
    for (let i = 1; i < items.length; i++) {
      assert.ok((items[i - 1]!.id as number) > (items[i]!.id as number), "ids descending");
      assert.ok(Date.parse(String(items[i - 1]!.at)) >= Date.parse(String(items[i]!.at)), "times descending");
    }
    // The newest event is the last source created.
    assert.equal(items[0]!.action, "source.create");
  });

  test("paging with nextCursor → cursor walks the whole log once, without overlap", async () => {
    for (let i = 0; i < 5; i++) await createSource();
    const whole = ((await send("GET", "/v1/audit?limit=500")).body!.items as Json[]).map((i) => i.id);
    const seen: unknown[] = [];
    let cursor: string | null = null;
    let pages = 0;
    for (;;) {
      const r = await send("GET", `/v1/audit?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      assert.equal(r.status, 200, r.text);
      const page = r.body!.items as Json[];
      assert.ok(page.length <= 3);
      seen.push(...page.map((i) => i.id));
      pages++;
      cursor = r.body!.nextCursor as string | null;
      if (!cursor) break;
      assert.equal(typeof cursor, "string");
      assert.equal(page.length, 3, "a page before the last is full");
      assert.ok(pages < 1000);
    }
    assert.deepEqual(seen, whole);
    assert.ok(pages >= 2, "more than one page");
  });

  test("filters: action, and action with source", async () => {
    const src = await createSource();
    await send("PATCH", `/v1/sources/${src.id}`, { json: { name: "x" } });
    const creates = await send("GET", "/v1/audit?action=source.create&limit=500");
    const items = creates.body!.items as Json[];
    assert.ok(items.length >= 2);
    for (const i of items) assert.equal(i.action, "source.create");
    assert.ok(items.some((i) => i.sourceCode === src.code));
    const both = await send("GET", `/v1/audit?action=source.update&source=${src.code}`);
    assert.deepEqual(
      (both.body!.items as Json[]).map((i) => [i.action, i.sourceCode]),
      [["source.update", src.code]],
    );
    const none = await send("GET", "/v1/audit?action=no.such.action");
    assert.deepEqual(none.body, { items: [], nextCursor: null });
  });

  test("a bad limit or cursor is a 400 problem", async () => {
    assertProblem(await send("GET", "/v1/audit?limit=0"), 400);
    assertProblem(await send("GET", "/v1/audit?limit=abc"), 400);
    assertProblem(await send("GET", "/v1/audit?cursor=abc"), 400);
  });

  test("no secret this file has seen appears anywhere in the audit", async () => {
    let text = "";
    let cursor: string | null = null;
    for (;;) {
      const r = await send("GET", `/v1/audit?limit=50${cursor ? `&cursor=${cursor}` : ""}`);
      text += r.text;
      cursor = r.body!.nextCursor as string | null;
      if (!cursor) break;
    }
    assert.ok(secretsSeen.length > 10);
    for (const secret of secretsSeen) assert.ok(!text.includes(secret), `secret in the audit: ${secret.slice(0, 12)}…`);
    assert.doesNotMatch(text, /ssod_(cs|ss|ak)_/);
  });
});

// ---------------------------------------------------------------------------
describe("one core under both dialects", () => {
  test("a source made with /v1 is seen by api.php sso.get, and the reverse", async () => {
    const src = await createSource({ expiresAt: "2033-03-04T05:06:07Z", validForSeconds: 321, options: { returnUserData: false } });
    const legacy = await s.request("POST", "/api.php", { json: { Command: "sso.get", APIKey: s.adminKey, SourceID: src.id } });
    const got = ((await legacy.json()) as { Source: Json }).Source;
    assert.equal(got.SourceCode, src.code);
    assert.equal(got.ExpiresAt, "2033-03-04 05:06:07");
    assert.equal(got.ValidForSeconds, 321);
    assert.deepEqual(got.Options, { CreateNewUserIfNotExists: "Enabled", PerformLogin: "Enabled", ReturnUserData: "Disabled" });

    const code = fresh("legacy");
    const made = await s.request("POST", "/api.php", {
      json: {
        Command: "sso.create",
        APIKey: s.adminKey,
        SourceName: "L",
        SourceCode: code,
        ValidForSeconds: 77,
        ExpiresAt: "2034-01-02 03:04:05",
        Options: { PerformLogin: "Disabled" },
      },
    });
    const id = ((await made.json()) as { SSOSourceID: number }).SSOSourceID;
    const v1 = await send("GET", `/v1/sources/${id}`);
    assert.equal(v1.status, 200);
    assert.equal(v1.body!.code, code);
    assert.equal(v1.body!.validForSeconds, 77);
    assert.equal(Date.parse(String(v1.body!.expiresAt)), Date.UTC(2034, 0, 2, 3, 4, 5));
    assert.deepEqual(v1.body!.options, { createNewUserIfNotExists: true, performLogin: false, returnUserData: true });
  });
});
