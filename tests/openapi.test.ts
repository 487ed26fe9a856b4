// The OpenAPI document describes the live server: every documented
// operation, called with its own documented example, answers a documented
// status with a body that matches the documented schema.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { callerJwt as signCallerJwt } from "./helpers/identity-provider";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";

const ADMIN_KEY = `ssod_ak_${"o".repeat(43)}`;
// Seed 001's x-lob-client-id: a source is made with it, so the seed's example can succeed.
const SEED_CLIENT_ID = "1RrLMyLrZGA=";

interface Operation {
  method: string;
  path: string;
  op: {
    parameters?: { in: string; name: string; schema?: { examples?: unknown[] } }[];
    requestBody?: { content: Record<string, { schema?: { examples?: unknown[] } }> };
    responses: Record<string, { content?: Record<string, { schema?: object }> }>;
    security?: Record<string, string[]>[];
  };
}

// Creations first, then reads, changes, deletions; signing out last.
const RANK: Record<string, number> = { post: 0, get: 1, patch: 2, delete: 3 };
const order = (o: Operation) => (o.path === "/v1/session/logout" ? 9 : (RANK[o.method] ?? 5));

describe("the OpenAPI document", () => {
  let server: ServerProcess;
  let spec: { openapi: string; paths: Record<string, Record<string, Operation["op"]>> };
  let callerJwt: string;
  let sourceSecret: string;
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));

  before(async () => {
    server = await startBuiltServer({ env: { SSOD_ADMIN_API_KEY: ADMIN_KEY } });
    const created = await fetch(`${server.url}/v1/sources`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ code: "seed_lob", name: "Seed 001 caller", clientId: SEED_CLIENT_ID, validForSeconds: 3600 }),
    });
    assert.equal(created.status, 201);
    const { clientSecret } = (await created.json()) as { clientSecret: string };
    sourceSecret = clientSecret;
    callerJwt = await signCallerJwt({ clientId: SEED_CLIENT_ID, clientSecret }, { exp: Math.floor(Date.now() / 1000) + 600 });
    const response = await fetch(`${server.url}/openapi.json`);
    assert.equal(response.status, 200);
    spec = (await response.json()) as typeof spec;
  });
  after(() => stopAll([server], "SIGKILL"));

  test("is OpenAPI 3.1 and covers all four dialects and the OpenID Connect provider", () => {
    assert.equal(spec.openapi, "3.1.0");
    for (const path of [
      "/api.php",
      "/api/sso",
      "/admin/sso",
      "/tap",
      "/sso",
      "/GenerateSSOToken",
      "/v1/sources",
      "/v1/tokens",
      "/v1/tokens/redeem",
      "/v1/users",
      "/v1/audit",
      "/.well-known/openid-configuration",
      "/oidc/auth",
      "/oidc/token",
      "/oidc/me",
      "/oidc/session/end",
    ]) {
      assert.ok(spec.paths[path], `${path} is documented`);
    }
  });

  test("an operation that takes an admin key only documents the 403 that source credentials get there", async () => {
    const adminOnly = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, op]) => op.security?.length === 1 && op.security[0]!.adminKey !== undefined)
        .map(([method, op]) => ({ path, method, op })),
    );
    assert.ok(adminOnly.length > 20, `${adminOnly.length} admin-only operations`);
    assert.deepEqual(
      adminOnly.filter((o) => !o.op.responses["403"]).map((o) => `${o.method} ${o.path}`),
      [],
    );
    // What the document says is what such a route answers.
    const basic = `Basic ${Buffer.from(`${SEED_CLIENT_ID}:${sourceSecret}`).toString("base64")}`;
    const r = await fetch(`${server.url}/v1/apps`, { headers: { authorization: basic } });
    assert.equal(r.status, 403);
  });

  test("/docs is a self-contained page", async () => {
    const page = await fetch(`${server.url}/docs`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<script type="module" src="\/docs\/rapidoc.js">/);
    assert.doesNotMatch(html, /https?:\/\//, "no resource from elsewhere");
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.equal((await fetch(`${server.url}/docs/rapidoc.js`)).status, 200);
  });

  test("every operation's example gets a documented answer matching its schema", async () => {
    const operations: Operation[] = Object.entries(spec.paths)
      .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ method, path, op })))
      .sort((x, y) => order(x) - order(y));
    const statuses: Record<string, number> = {};
    for (const { method, path, op } of operations) {
      const name = `${method.toUpperCase()} ${path}`;
      let url = path;
      const query = new URLSearchParams();
      const headers: Record<string, string> = {};
      for (const p of op.parameters ?? []) {
        const example = p.schema?.examples?.[0];
        if (example === undefined) continue;
        if (p.in === "path") url = url.replace(`{${p.name}}`, encodeURIComponent(String(example)));
        else if (p.in === "query") query.set(p.name, String(example));
        else if (p.in === "header") headers[p.name] = String(example);
      }
      // The documented credentials, made real.
      const scheme = Object.keys(op.security?.[0] ?? {})[0];
      if (scheme === "adminKey") headers.authorization = `Bearer ${ADMIN_KEY}`;
      if (scheme === "tykAdminKey") headers["admin-auth"] = ADMIN_KEY;
      if (scheme === "lobCallerJwt") headers.authorization = `Bearer ${callerJwt}`;
      let body: string | undefined;
      const content = op.requestBody?.content["application/json"];
      if (content) {
        const example = content.schema?.examples?.[0];
        assert.ok(example !== undefined, `${name} documents a request example`);
        const filled = path === "/api.php" ? { ...(example as object), APIKey: ADMIN_KEY } : example;
        body = JSON.stringify(filled);
        headers["content-type"] = "application/json";
      }
      const target = `${server.url}${url}${query.size > 0 ? `?${query}` : ""}`;
      const response = await fetch(target, { method: method.toUpperCase(), headers, ...(body ? { body } : {}), redirect: "manual" });
      statuses[name] = response.status;
      const documented = op.responses[String(response.status)];
      assert.ok(documented, `${name} answered ${response.status}, documented are ${Object.keys(op.responses).join(", ")}`);
      const mediaType = (response.headers.get("content-type") ?? "").split(";")[0]!;
      // Where the answer's content is documented, the answer is in one of the documented media types (so its schema below is checked, not skipped).
      if (documented.content)
        assert.ok(
          documented.content[mediaType],
          `${name} ${response.status}: ${mediaType || "no content type"} is not among ${Object.keys(documented.content).join(", ")}`,
        );
      const schema = documented.content?.[mediaType]?.schema;
      if (schema) {
        // A page is text; everything else documented with a schema is JSON.
        const json = (mediaType === "text/html" ? await response.text() : await response.json()) as unknown;
        const validate = ajv.compile(schema);
        assert.ok(validate(json), `${name} ${response.status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(json).slice(0, 300)}`);
      }
    }
    // The examples taken from the seeds, and the native ones, succeed.
    for (const name of [
      "POST /api.php",
      "POST /api/sso",
      "POST /admin/sso",
      "POST /GenerateSSOToken",
      "POST /v1/sources",
      "POST /v1/tokens",
      "GET /v1/sources/{id}",
      "PATCH /v1/sources/{id}",
      "DELETE /v1/sources/{id}",
      "POST /v1/admin-keys",
      "GET /v1/admin-keys",
      "DELETE /v1/admin-keys/{id}",
    ]) {
      assert.ok(statuses[name]! >= 200 && statuses[name]! < 300, `${name} example succeeds (got ${statuses[name]})`);
    }
  });
});
