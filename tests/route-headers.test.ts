// A declared route's JSON answer keeps the headers its steps (the caller's
// authentication, the handler) set with c.header() (a cookie, a Retry-After),
// beside the headers of every answer and its reply's own. route.ts writes JSON
// answers with a plain object of headers (the fast path of @hono/node-server),
// and once dropped them.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Hono } from "hono";
import { setCookie } from "hono/cookie";
import * as v from "valibot";
import { anyone } from "../src/http/auth/callers";
import type { AppEnv } from "../src/http/env";
import { answerHeaders } from "../src/http/middleware/security-headers";
import { mount, reply, route } from "../src/http/route";
import { v1Dialect } from "../src/http/v1/dialect";
import { createLogger } from "../src/log";
import { openTestServer, type TestServer } from "./helpers/runtime";

const base = {
  method: "get",
  tag: "test",
  summary: "probe",
  auth: anyone,
  failures: [],
  answers: { 200: { description: "ok", schema: v.object({ ok: v.boolean() }) } },
} as const;

const ROUTES = [
  route({ ...base, path: "/plain", handle: () => reply(200, { ok: true }) }),
  route({
    ...base,
    path: "/cookie",
    handle: ({ c }) => {
      setCookie(c, "probe", "1", { path: "/", httpOnly: true });
      c.header("Retry-After", "7");
      return reply(200, { ok: true });
    },
  }),
  // A header set while the caller is authenticated (a refreshed cookie), before the handler runs.
  route({
    ...base,
    path: "/from-auth",
    auth: {
      security: [],
      authenticate: async (c) => {
        c.header("X-From-Auth", "1");
        return undefined;
      },
    },
    handle: () => reply(200, { ok: true }),
  }),
  // Its own policy instead of the default one, and a reply header that wins over its own c.header().
  route({
    ...base,
    path: "/own",
    handle: ({ c }) => {
      c.header("Content-Security-Policy", "default-src 'self'");
      c.header("X-Probe", "from c.header");
      return reply(200, { ok: true }, { "X-Probe": "from the reply" });
    },
  }),
];

let server: TestServer;
let app: Hono<AppEnv>;

before(async () => {
  server = await openTestServer();
  app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("requestId", "probe-request");
    await next();
  });
  app.use(answerHeaders([], () => false));
  mount(app, server.runtime.core, createLogger("silent"), v1Dialect, ROUTES);
});

after(async () => {
  await server?.close();
});

describe("a route's JSON answer and c.header()", () => {
  test("without c.header(): the headers of every answer and the JSON content type", async () => {
    const r = await app.request("/plain");
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ok: true });
    assert.equal(r.headers.get("content-type"), "application/json");
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("x-request-id"), "probe-request");
  });

  test("a cookie and a header set with c.header() reach the answer, with the headers of every answer", async () => {
    const r = await app.request("/cookie");
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ok: true });
    assert.match(r.headers.get("set-cookie") ?? "", /^probe=1; Path=\/; HttpOnly/);
    assert.equal(r.headers.get("retry-after"), "7");
    assert.equal(r.headers.get("content-type"), "application/json");
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("cache-control"), "no-store");
    assert.equal(r.headers.get("x-request-id"), "probe-request");
  });

  test("a header set by the route's authentication, before its handler, reaches the answer", async () => {
    const r = await app.request("/from-auth");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-from-auth"), "1");
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
  });

  test("a header the handler set is not overwritten by the default of every answer; the reply's own wins", async () => {
    const r = await app.request("/own");
    assert.equal(r.headers.get("content-security-policy"), "default-src 'self'");
    assert.equal(r.headers.get("x-probe"), "from the reply");
    assert.equal(r.headers.get("referrer-policy"), "no-referrer");
  });
});
