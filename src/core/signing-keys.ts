// The server's own signing keys (SPEC §1, §7), one current key per
// algorithm: EdDSA for ssod's format=jwt tokens (and apps that ask for it),
// RS256 for OpenID Connect (which requires it), P-256 (ES256) once an app
// asks for it. Public halves are published at /.well-known/jwks.json; private
// halves are stored sealed with the master key.
//
// Rotation publishes each new key first and lets it sign only SSOD_KEY_PUBLISH_LEAD
// later, so verifiers have seen it before any instance signs with it; a
// retired key stays published at least 24 hours, and as long as a format=jwt
// token it signed lives (apps keep ID tokens ssod does not track).
import { createPrivateKey, generateKeyPairSync, type webcrypto } from "node:crypto";
import { and, desc, eq, gt, isNull, lte, or, sql } from "drizzle-orm";
import { calculateJwkThumbprint, importPKCS8, type JWK } from "jose";
import { signingKeys } from "../store/schema";
import { type Actor, actorName, auditStatement } from "./audit";
import type { Core } from "./context";

export type SigningAlg = "EdDSA" | "RS256" | "ES256";

/** ssod's own tokens (format=jwt) are EdDSA. */
export const SIGNING_ALG: SigningAlg = "EdDSA";

/** The algorithms every store has a key for from the first start; ES256 joins when an app asks. */
const ALWAYS: SigningAlg[] = ["EdDSA", "RS256"];

/** A retired key stays published at least this long (SPEC §7: apps keep ID tokens). */
const RETIRED_PUBLISHED_MS = 24 * 3600 * 1000;

/**
 * How long a key's row outlives its publication: long enough for a token
 * signed with it just before it retired to land and extend it.
 */
const LATE_SIGNER_MARGIN_MS = 60_000;

type CryptoKey = webcrypto.CryptoKey;

function newKeyPair(alg: SigningAlg) {
  const pair =
    alg === "RS256"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : alg === "ES256"
        ? generateKeyPairSync("ec", { namedCurve: "P-256" })
        : generateKeyPairSync("ed25519");
  return {
    publicJwk: pair.publicKey.export({ format: "jwk" }) as JWK,
    privatePem: pair.privateKey.export({ format: "pem", type: "pkcs8" }) as string,
  };
}

async function keyRow(core: Core, alg: SigningAlg) {
  const { publicJwk, privatePem } = newKeyPair(alg);
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    alg,
    publicJwk: JSON.stringify({ ...publicJwk, kid, alg, use: "sig" }),
    privateKeyEnc: core.masterKey.seal(privatePem, "signing_key"),
  };
}

/** The algorithms that have a current (not retired) key. */
async function currentAlgs(core: Core): Promise<Set<string>> {
  const rows = await core.store.db.selectDistinct({ alg: signingKeys.alg }).from(signingKeys).where(isNull(signingKeys.retiredAt));
  return new Set(rows.map((r) => r.alg));
}

/**
 * Makes a key for `alg` unless it has a current one: looked for first (an
 * RSA key pair costs tens to hundreds of milliseconds to make), then one
 * conditional insert, so instances racing on a new store have one winner.
 */
export async function ensureSigningKey(core: Core, alg: SigningAlg, current?: Set<string>): Promise<void> {
  if ((current ?? (await currentAlgs(core))).has(alg)) return;
  const row = await keyRow(core, alg);
  await core.store.write({
    statements: [
      {
        sql: `INSERT INTO signing_keys (kid, alg, public_jwk, private_key_enc, created_at)
              SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE alg = ?2 AND retired_at IS NULL)`,
        args: [row.kid, row.alg, row.publicJwk, row.privateKeyEnc, core.now()],
      },
    ],
    decode: () => undefined,
  });
}

/** At start: a current key for every algorithm ssod always signs with (made on the first start only). */
export async function ensureSigningKeys(core: Core): Promise<void> {
  const current = await currentAlgs(core);
  for (const alg of ALWAYS) await ensureSigningKey(core, alg, current);
}

/**
 * A new key for every algorithm in use, signing from SSOD_KEY_PUBLISH_LEAD
 * from now; the current ones retire then. Answers the new EdDSA key's kid.
 */
export async function rotateSigningKey(core: Core, context: { actor: Actor; ip: string | null }): Promise<string> {
  const now = core.now();
  const takeover = now + core.settings.keyPublishLeadSeconds * 1000;
  const inUse = await core.store.db.selectDistinct({ alg: signingKeys.alg }).from(signingKeys).where(isNull(signingKeys.retiredAt));
  const algs = [...new Set([...ALWAYS, ...inUse.map((r) => r.alg as SigningAlg)])];
  const rows = await Promise.all(algs.map((alg) => keyRow(core, alg)));
  await core.store.write({
    statements: [
      {
        // Published a day past its retirement at least; and until the last
        // token it signed has expired. A token signed with it by an issuer that
        // read it just before this rotation lands just after, and extends this
        // date itself (src/core/tokens/issue.ts).
        sql: `UPDATE signing_keys SET retired_at = ?1,
                publish_until = max(?1 + ?2, coalesce((SELECT max(expires_at) FROM sso_tokens WHERE format = 'jwt'), 0))
              WHERE retired_at IS NULL`,
        args: [takeover, RETIRED_PUBLISHED_MS],
      },
      ...rows.map((row) => ({
        sql: "INSERT INTO signing_keys (kid, alg, public_jwk, private_key_enc, created_at, active_from) VALUES (?, ?, ?, ?, ?, ?)",
        args: [row.kid, row.alg, row.publicJwk, row.privateKeyEnc, now, takeover],
      })),
      auditStatement(core, {
        actor: actorName(context.actor),
        action: "key.rotate",
        outcome: "success",
        target: rows.find((r) => r.alg === SIGNING_ALG)!.kid,
        ip: context.ip,
        detail: { kids: rows.map((r) => r.kid), from: new Date(takeover).toISOString() },
      }),
    ],
    decode: () => undefined,
  });
  return rows.find((r) => r.alg === SIGNING_ALG)!.kid;
}

/** The condition on a key that signs for its algorithm at `now`: active, not yet retired. */
const signsAt = (now: number) =>
  and(lte(sql`coalesce(${signingKeys.activeFrom}, ${signingKeys.createdAt})`, now), or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, now)));

/** The EdDSA key to sign ssod's format=jwt tokens with now, imported once per kid. */
export async function activeSigningKey(core: Core): Promise<{ kid: string; key: CryptoKey | Uint8Array }> {
  const row = await core.store.db
    .select({ kid: signingKeys.kid, privateKeyEnc: signingKeys.privateKeyEnc })
    .from(signingKeys)
    .where(and(eq(signingKeys.alg, SIGNING_ALG), signsAt(core.now())))
    .orderBy(desc(sql`coalesce(${signingKeys.activeFrom}, ${signingKeys.createdAt})`))
    .get();
  if (!row) throw new Error("no active signing key");
  const key = core.caches.signingKeys.getOrMake(row.kid, () =>
    importPKCS8(core.masterKey.open(row.privateKeyEnc, "signing_key").toString("utf8"), SIGNING_ALG),
  );
  return { kid: row.kid, key: await key };
}

const published = (now: number) => or(isNull(signingKeys.publishUntil), gt(signingKeys.publishUntil, now));

/** The JWKS document: keys about to sign, signing, and retired ones still needed to verify. */
export async function publishedKeys(core: Core): Promise<{ keys: JWK[] }> {
  const rows = await core.store.db
    .select({ publicJwk: signingKeys.publicJwk })
    .from(signingKeys)
    .where(published(core.now()))
    .orderBy(desc(signingKeys.createdAt));
  return { keys: rows.map((r) => JSON.parse(r.publicJwk) as JWK) };
}

/** A published key with its private half, as the OpenID Connect provider takes it: `signs` for the one that signs its algorithm now. */
export interface PrivateSigningKey {
  kid: string;
  alg: SigningAlg;
  jwk: JWK;
  signs: boolean;
  /** When this key starts or stops signing, if that is still to come (the key set then changes). */
  changesAt: number | undefined;
}

/** Every published key with its private half (for the OpenID Connect provider). */
export async function privateSigningKeys(core: Core): Promise<PrivateSigningKey[]> {
  const now = core.now();
  const rows = await core.store.db
    .select()
    .from(signingKeys)
    .where(published(now))
    .orderBy(desc(sql`coalesce(${signingKeys.activeFrom}, ${signingKeys.createdAt})`));
  const seen = new Set<string>();
  return rows.map((row) => {
    const from = row.activeFrom ?? row.createdAt;
    const active = from <= now && (row.retiredAt === null || row.retiredAt > now);
    // The newest active key of each algorithm signs; older active ones (none, normally) only verify.
    const signs = active && !seen.has(row.alg);
    if (signs) seen.add(row.alg);
    const jwk = createPrivateKey(core.masterKey.open(row.privateKeyEnc, "signing_key").toString("utf8")).export({ format: "jwk" }) as JWK;
    const changesAt = [from, row.retiredAt].filter((t): t is number => t !== null && t > now).sort((a, b) => a - b)[0];
    return { kid: row.kid, alg: row.alg as SigningAlg, jwk: { ...jwk, kid: row.kid, alg: row.alg, use: "sig" }, signs, changesAt };
  });
}

/** What identifies the current key set: a rebuild of whatever holds keys is due when it changes. */
export async function keySetVersion(core: Core): Promise<string> {
  const rows = await core.store.db
    .select({ kid: signingKeys.kid, activeFrom: signingKeys.activeFrom, retiredAt: signingKeys.retiredAt })
    .from(signingKeys)
    .where(published(core.now()))
    .orderBy(signingKeys.kid);
  return rows.map((r) => `${r.kid}:${r.activeFrom ?? ""}:${r.retiredAt ?? ""}`).join(",");
}

/** Deletes retired keys unpublished for a while (the sweeper). */
export function expiredKeysStatement(now: number) {
  return { sql: "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND publish_until <= ?", args: [now - LATE_SIGNER_MARGIN_MS] };
}
