// GET /openapi.json, generated from the same valibot schemas that validate
// requests (hono-openapi), and GET /docs, a reference page that works offline:
// RapiDoc is served from ssod itself, never from a CDN.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Hono } from "hono";
import { html } from "hono/html";
import { generateSpecs } from "hono-openapi";
import { DOCS_ASSET, readAsset } from "../assets";
import { version } from "../version";
import type { AppEnv } from "./env";
import { oidcDocumentation } from "./oidc/openapi";

const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const documentation = {
  openapi: "3.1.0",
  info: {
    title: "ssod",
    version: version(),
    description:
      "A self-hosted SSO hand-off server. Trusted sources ask for short-lived, single-use login tokens; the browser or the target app redeems each exactly once. " +
      "Four dialects over one core: the legacy `api.php` command API, a Tyk-style nonce API, the line-of-business `GenerateSSOToken` API, and the native `/v1` API.",
  },
  tags: [
    { name: "Native v1: sources", description: "SSO sources: the trusted systems that hand users to ssod" },
    { name: "Native v1: tokens", description: "Issue, redeem, introspect and revoke single-use login tokens" },
    { name: "Native v1: users and sessions", description: "The user directory and its login sessions" },
    { name: "Native v1: audit log", description: "Every change, token and failed authentication" },
    { name: "Native v1: signing keys", description: "The keys that sign format=jwt tokens" },
    { name: "Native v1: admin keys", description: "The keys that authorise admin calls: list, create, revoke" },
    { name: "Native v1: apps", description: "The apps ssod signs users in to: OpenID Connect clients and hosts behind forward auth" },
    oidcDocumentation.tag,
    {
      name: "Native v1: webhooks",
      description: "Signed event notifications (Standard Webhooks), written in the same commit as their change and delivered at least once",
    },
    { name: "Browser sign-in", description: "Where a browser lands with a token, and its session cookie" },
    { name: "Forward auth", description: "nginx, Caddy and Traefik ask whether a request may go through to a protected app" },
    { name: "Tyk nonce API", description: "Seed 000: Tyk-style nonce tokens" },
    { name: "Line-of-business GenerateSSOToken", description: "Seed 001: GenerateSSOToken for line-of-business apps" },
    { name: "Legacy api.php", description: "Seed 002: the api.php command API for SSO source management" },
    { name: "Operations", description: "Health, readiness, metrics" },
  ],
  components: {
    securitySchemes: {
      adminKey: { type: "http", scheme: "bearer", description: "An admin key, `ssod_ak_…`" },
      sourceCredentials: { type: "http", scheme: "basic", description: "A source's clientId and clientSecret" },
      tykAdminKey: { type: "apiKey", in: "header", name: "admin-auth", description: "An admin key, also accepted as `Authorization: <key>`" },
      lobCallerJwt: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "The caller's JWT (with or without `Bearer `)" },
      metricsToken: { type: "http", scheme: "bearer", description: "SSOD_METRICS_TOKEN, when set" },
      sessionCookie: { type: "apiKey", in: "cookie", name: "ssod_session", description: "The login session cookie set at redemption" },
      ...oidcDocumentation.securitySchemes,
    },
  },
  paths: oidcDocumentation.paths,
};

function docsScript(): string {
  return readAsset(DOCS_ASSET)?.toString("utf8") ?? readFileSync(createRequire(import.meta.url).resolve("rapidoc/dist/rapidoc-min.js"), "utf8");
}

export function openApiRoutes(app: Hono<AppEnv>) {
  const routes = new Hono<AppEnv>();
  let spec: Promise<unknown> | undefined;

  routes.get("/openapi.json", async (c) => {
    // Generated once, on first request: the routes do not change while running.
    // excludeStaticFile off: /api.php and /.well-known/jwks.json look like files but are operations.
    spec ??= generateSpecs(app, { documentation: documentation as never, excludeStaticFile: false, exclude: ["/openapi.json", "/docs", "/docs/rapidoc.js"] });
    c.header("Cache-Control", "public, max-age=300");
    return c.json(await spec);
  });

  routes.get("/docs", (c) => {
    c.header("Content-Security-Policy", DOCS_CSP);
    c.header("Cache-Control", "public, max-age=300");
    return c.html(html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>ssod API reference</title>
    <script type="module" src="/docs/rapidoc.js"></script>
  </head>
  <body>
    <rapi-doc spec-url="/openapi.json" render-style="read" show-header="false" allow-try="true" regular-font="system-ui, sans-serif" mono-font="ui-monospace, monospace"></rapi-doc>
  </body>
</html>`);
  });

  let script: string | undefined;
  routes.get("/docs/rapidoc.js", (c) => {
    script ??= docsScript();
    c.header("Cache-Control", "public, max-age=86400");
    return c.body(script, 200, { "Content-Type": "text/javascript; charset=utf-8" });
  });
  return routes;
}
