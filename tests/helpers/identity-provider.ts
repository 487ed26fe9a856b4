// Caller JWTs for /GenerateSSOToken (seed 001): a fake identity provider on
// loopback serving JWKS documents (one key set per path, every request counted)
// and the RSA keys to sign with; the HS256 token a source signs itself with its
// client secret when it has no identity provider; and seed 001's headers.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

export interface IdpKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public half as the JWKS publishes it (kid, alg RS256, use sig). */
  publicJwk: JWK;
}

/** A fresh RS256 key pair under `kid`. */
export async function rsaKey(kid: string): Promise<IdpKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  return { kid, privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

export interface IdentityProvider {
  /** http://127.0.0.1:<port> */
  base: string;
  /** The full URL of `path`. */
  url(path: string): string;
  /** Serves `keys` as the JWKS document at `path` (replacing what was there); any other path is a 404. */
  publish(path: string, keys: IdpKey[]): void;
  /** How many requests `path` has had. */
  fetched(path: string): number;
  /** When `path` was last requested (ms since the epoch). */
  lastFetchAt(path: string): number | undefined;
  close(): Promise<void>;
}

export async function startIdentityProvider(): Promise<IdentityProvider> {
  const published = new Map<string, IdpKey[]>();
  const requests = new Map<string, number[]>();
  const server = createServer((req, res) => {
    const path = req.url ?? "";
    requests.set(path, [...(requests.get(path) ?? []), Date.now()]);
    const keys = published.get(path);
    if (!keys) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    url: (path) => `${base}${path}`,
    publish: (path, keys) => void published.set(path, keys),
    fetched: (path) => requests.get(path)?.length ?? 0,
    lastFetchAt: (path) => requests.get(path)?.at(-1),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Signs `claims` exactly as given, with the header given (alg RS256 and the key's kid unless it says otherwise). */
export function signWith(
  key: IdpKey | { privateKey: CryptoKey; kid?: string } | Uint8Array,
  claims: JWTPayload,
  header: Record<string, unknown> = {},
): Promise<string> {
  const kid = key instanceof Uint8Array ? undefined : key.kid;
  const secret = key instanceof Uint8Array ? key : key.privateKey;
  return new SignJWT(claims).setProtectedHeader({ alg: "RS256", ...(kid ? { kid } : {}), ...header } as never).sign(secret);
}

const now = () => Math.floor(Date.now() / 1000);

/**
 * The caller JWT of a source without an identity provider: HS256 with its
 * client secret (or the `secret` given), `client_id` its own, issued now and
 * expiring in five minutes; every part overridable (`exp: null` leaves it out).
 */
export function callerJwt(
  source: { clientId: string; clientSecret: string },
  options: { claims?: JWTPayload; secret?: string; alg?: string; exp?: number | null; nbf?: number; header?: Record<string, unknown> } = {},
): Promise<string> {
  const claims: JWTPayload = { client_id: source.clientId, iat: now(), ...options.claims };
  if (options.exp !== null) claims.exp = options.exp ?? now() + 300;
  if (options.nbf !== undefined) claims.nbf = options.nbf;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? "HS256", typ: "JWT", ...options.header } as never)
    .sign(new TextEncoder().encode(options.secret ?? source.clientSecret));
}

/** Seed 001's request headers for `clientId` (an `extra` header set to undefined is left out). */
export function lobHeaders(clientId: string, authorization?: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const headers: Record<string, string | undefined> = {
    "x-api-version": "1.0.0",
    "x-lob-client-id": clientId,
    "content-type": "application/json",
    ...(authorization !== undefined ? { authorization } : {}),
    ...extra,
  };
  return Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

/** Seed 001's sample body. */
export const LOB_BODY = { CIINo: "10001004", LOBId: "01", Functionality: "D" };
