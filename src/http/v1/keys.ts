// Signing keys: the JWKS document and rotation.
import * as v from "valibot";
import { publishedKeys, rotateSigningKey } from "../../core/signing-keys";
import { adminOnly, anyone } from "../auth/callers";
import { reply, route } from "../route";
import { V1 } from "./dialect";

const jwksView = v.object({ keys: v.array(v.record(v.string(), v.unknown())) });

export const keyRoutes = [
  route({
    method: "post",
    path: "/v1/keys/rotate",
    tag: V1.keys,
    summary: "Rotate the server's signing key",
    description: "Tokens already signed stay verifiable: a retired key stays published as long as a token it signed may live.",
    auth: adminOnly,
    answers: { 200: { description: "The new key id and the published keys", schema: v.object({ kid: v.string(), ...jwksView.entries }) } },
    failures: [401, 429, 503],
    async handle({ c, core, caller }) {
      const kid = await rotateSigningKey(core, { actor: caller.actor, ip: c.get("clientIp") });
      return reply(200, { kid, ...(await publishedKeys(core)) });
    },
  }),
  route({
    method: "get",
    path: "/.well-known/jwks.json",
    tag: V1.keys,
    summary: "Public keys for verifying format=jwt tokens offline",
    auth: anyone,
    answers: { 200: { description: "A JWK set", schema: jwksView } },
    failures: [503],
    async handle({ core }) {
      return reply(200, (await publishedKeys(core)) as v.InferInput<typeof jwksView>, { "Cache-Control": "public, max-age=300" });
    },
  }),
];
