// Signing keys: the JWKS document and rotation.
import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import * as v from "valibot";
import type { Core } from "../../core/context";
import { publishedKeys, rotateSigningKey } from "../../core/signing-keys";
import { callers, jsonAnswer, problems } from "../docs";
import { authenticate, type V1Env } from "./auth";

export function keyRoutes(core: Core) {
  const app = new Hono<V1Env>();
  app.post(
    "/keys/rotate",
    describeRoute({
      tags: ["keys"],
      summary: "Rotate the server's signing key",
      description: "Tokens already signed stay verifiable: old public keys stay published until they expire.",
      security: callers.admin,
      responses: { 200: jsonAnswer(v.object({ kid: v.string(), keys: v.array(v.record(v.string(), v.unknown())) }), "The new key id and the published keys"), ...problems(401, 429, 503) },
    }),
    authenticate(core, { admin: true }),
    async (c) => {
      const kid = await rotateSigningKey(core, { actor: c.get("caller").actor, ip: c.get("clientIp") });
      return c.json({ kid, ...(await publishedKeys(core)) });
    },
  );
  return app;
}

/** GET /.well-known/jwks.json, outside /v1. */
export function jwksRoute(core: Core) {
  const app = new Hono();
  app.get(
    "/.well-known/jwks.json",
    describeRoute({ tags: ["keys"], summary: "Public keys for verifying format=jwt tokens offline", security: callers.anyone, responses: { 200: { description: "A JWK set" } } }),
    async (c) => {
      c.header("Cache-Control", "public, max-age=300");
      return c.json(await publishedKeys(core));
    },
  );
  return app;
}
