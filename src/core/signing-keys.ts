// The server's own signing keys (SPEC §1): EdDSA key pairs whose public
// halves are published at /.well-known/jwks.json. The private half is stored
// sealed with the master key. Rotation keeps old public keys published until
// every token they signed has expired.
import { generateKeyPairSync, type webcrypto } from "node:crypto";
import { desc, gt, isNull, or } from "drizzle-orm";
import { calculateJwkThumbprint, importPKCS8, type JWK } from "jose";
import { signingKeys } from "../store/schema";
import { type Actor, actorName, auditStatement } from "./audit";
import type { Core } from "./context";

export const SIGNING_ALG = "EdDSA";

/**
 * How long a retired key's row outlives its publication: long enough for a
 * token signed with it just before it retired to land and extend it.
 */
const LATE_SIGNER_MARGIN_MS = 60_000;

type CryptoKey = webcrypto.CryptoKey;

function newKeyPair() {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return {
    publicJwk: publicKey.export({ format: "jwk" }) as JWK,
    privatePem: privateKey.export({ format: "pem", type: "pkcs8" }) as string,
  };
}

async function keyRow(core: Core) {
  const { publicJwk, privatePem } = newKeyPair();
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    publicJwk: JSON.stringify({ ...publicJwk, kid, alg: SIGNING_ALG, use: "sig" }),
    privateKeyEnc: core.masterKey.seal(privatePem, "signing_key"),
  };
}

/** First start: makes a key unless one is active. One conditional insert, so a race has one winner. */
export async function ensureSigningKey(core: Core): Promise<void> {
  const row = await keyRow(core);
  await core.store.write({
    statements: [
      {
        sql: `INSERT INTO signing_keys (kid, alg, public_jwk, private_key_enc, created_at)
              SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)`,
        args: [row.kid, SIGNING_ALG, row.publicJwk, row.privateKeyEnc, core.now()],
      },
    ],
    decode: () => undefined,
  });
}

/** Retires the active key (published until the last token it could have signed expires) and makes a new one. */
export async function rotateSigningKey(core: Core, context: { actor: Actor; ip: string | null }): Promise<string> {
  const row = await keyRow(core);
  const now = core.now();
  await core.store.write({
    statements: [
      {
        // Published until the last token it signed has expired. A token signed
        // with it by an issuer that read it just before this rotation lands just
        // after, and extends this date itself (src/core/tokens/issue.ts).
        sql: `UPDATE signing_keys SET retired_at = ?1,
                publish_until = max(?1, coalesce((SELECT max(expires_at) FROM sso_tokens WHERE format = 'jwt'), ?1))
              WHERE retired_at IS NULL`,
        args: [now],
      },
      {
        sql: "INSERT INTO signing_keys (kid, alg, public_jwk, private_key_enc, created_at) VALUES (?, ?, ?, ?, ?)",
        args: [row.kid, SIGNING_ALG, row.publicJwk, row.privateKeyEnc, now],
      },
      auditStatement(core, { actor: actorName(context.actor), action: "key.rotate", outcome: "success", target: row.kid, ip: context.ip }),
    ],
    decode: () => undefined,
  });
  return row.kid;
}

/** The key to sign with now, imported once per kid. */
export async function activeSigningKey(core: Core): Promise<{ kid: string; key: CryptoKey | Uint8Array }> {
  const row = await core.store.db
    .select({ kid: signingKeys.kid, privateKeyEnc: signingKeys.privateKeyEnc })
    .from(signingKeys)
    .where(isNull(signingKeys.retiredAt))
    .orderBy(desc(signingKeys.createdAt))
    .get();
  if (!row) throw new Error("no active signing key");
  const key = core.caches.signingKeys.getOrMake(row.kid, () =>
    importPKCS8(core.masterKey.open(row.privateKeyEnc, "signing_key").toString("utf8"), SIGNING_ALG),
  );
  return { kid: row.kid, key: await key };
}

/** The JWKS document: every key still needed to verify a live token. */
export async function publishedKeys(core: Core): Promise<{ keys: JWK[] }> {
  const rows = await core.store.db
    .select({ publicJwk: signingKeys.publicJwk })
    .from(signingKeys)
    .where(or(isNull(signingKeys.retiredAt), gt(signingKeys.publishUntil, core.now())))
    .orderBy(desc(signingKeys.createdAt));
  return { keys: rows.map((r) => JSON.parse(r.publicJwk) as JWK) };
}

/** Deletes retired keys unpublished for a while (the sweeper). */
export function expiredKeysStatement(now: number) {
  return { sql: "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND publish_until <= ?", args: [now - LATE_SIGNER_MARGIN_MS] };
}
