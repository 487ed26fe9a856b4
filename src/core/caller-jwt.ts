// Verifies the bearer JWT a line-of-business caller presents (SPEC §2.2):
// against the source's trusted identity provider (issuer + JWKS, such as
// Cognito), or, when the source has none, as HS256 with its client secret.
// Algorithms are allow-listed per path, so `none` and HS/RS confusion fail.
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from "jose";
import type { Core } from "./context";
import { hmacKey } from "./hmac-keys";
import type { Source } from "./sources";

const ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

export type CallerVerdict =
  | { ok: true; claims: JWTPayload }
  /** 401: not a valid token for this source; 403: valid, but not allowed (scope, client). */
  | { ok: false; status: 401 | 403; reason: string }
  /** The identity provider's keys could not be fetched: 502, or 504 on a timeout. */
  | { ok: false; status: 502 | 504; reason: string };

// One remote key set per JWKS URL: jose caches the keys, refetches on an
// unknown `kid`, and waits `cooldownDuration` between fetches, so a flood of
// unknown kids cannot hammer the identity provider.
function remoteKeySet(core: Core, jwksUrl: string) {
  return core.caches.remoteKeySets.getOrMake(jwksUrl, () =>
    createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5_000 }),
  );
}

// Verified tokens, remembered for a minute at most. A caller presents the same
// access token on every call (a Cognito one lives an hour), and jose's
// WebCrypto signature check costs about 40 µs of the main thread each time:
// a fifth of a GenerateSSOToken request here. An entry is the exact token
// under the exact key material (the sealed client secret, or the identity
// provider's settings), so a rotated secret or a changed provider never
// reuses one; and it lapses when jose would call the token expired. jose's
// own JWKS cache already keeps a provider's keys for ten minutes: a key a
// provider withdraws may now be honoured a minute longer than that.
const VERIFIED_FOR_MS = 60_000;

function verificationKey(source: Source, token: string): string {
  const idp = source.identityProvider;
  const material = idp ? `idp\n${idp.issuer}\n${idp.jwksUrl}\n${idp.audience ?? ""}` : `hs256\n${source.secrets.clientSecretEnc}`;
  return `${material}\n${token}`;
}

function remember(core: Core, key: string, claims: JWTPayload): void {
  const now = core.now();
  // jose refuses a token once exp + clockTolerance has passed.
  const expires = (Number(claims.exp) + core.settings.clockSkewSeconds) * 1000;
  core.caches.verifiedCallerJwts.set(key, { claims, until: Math.min(expires, now + VERIFIED_FOR_MS) });
}

function recalled(core: Core, key: string): JWTPayload | undefined {
  const verified = core.caches.verifiedCallerJwts;
  const entry = verified.get(key);
  if (!entry) return undefined;
  if (entry.until > core.now()) return entry.claims;
  verified.delete(key);
  return undefined;
}

const scopesOf = (claims: JWTPayload): string[] => (typeof claims.scope === "string" ? claims.scope.split(" ") : Array.isArray(claims.scp) ? (claims.scp as string[]) : []);

export async function verifyCallerJwt(core: Core, source: Source, token: string, presentedClientId: string): Promise<CallerVerdict> {
  const idp = source.identityProvider;
  const key = verificationKey(source, token);
  let claims = recalled(core, key);
  if (!claims) {
    const checked = await verifySignature(core, source, token);
    if (!checked.ok) return checked;
    claims = checked.claims;
    remember(core, key, claims);
  }
  if (idp?.requiredScope && !scopesOf(claims).includes(idp.requiredScope)) {
    return { ok: false, status: 403, reason: `the token lacks the scope ${idp.requiredScope}` };
  }
  // Cognito access tokens name their app client in `client_id`; OIDC tokens may use `azp`.
  const issuedTo = typeof claims.client_id === "string" ? claims.client_id : typeof claims.azp === "string" ? claims.azp : undefined;
  if (issuedTo !== undefined && issuedTo !== presentedClientId) return { ok: false, status: 403, reason: "the token was issued to another client" };
  return { ok: true, claims };
}

/** jose's verdict on the token's signature, algorithm, issuer, audience and times. */
async function verifySignature(core: Core, source: Source, token: string): Promise<CallerVerdict> {
  const idp = source.identityProvider;
  let claims: JWTPayload;
  try {
    if (idp) {
      ({ payload: claims } = await jwtVerify(token, remoteKeySet(core, idp.jwksUrl), {
        issuer: idp.issuer,
        ...(idp.audience ? { audience: idp.audience } : {}),
        algorithms: ASYMMETRIC,
        clockTolerance: core.settings.clockSkewSeconds,
        requiredClaims: ["exp"],
      }));
    } else {
      if (!source.secrets.clientSecretEnc) return { ok: false, status: 401, reason: "the source has no client secret to verify the token with" };
      ({ payload: claims } = await jwtVerify(token, await hmacKey(core, source.secrets.clientSecretEnc, "client_secret"), {
        algorithms: ["HS256"],
        clockTolerance: core.settings.clockSkewSeconds,
        requiredClaims: ["exp"],
      }));
    }
  } catch (error) {
    if (error instanceof errors.JWKSTimeout) return { ok: false, status: 504, reason: "the identity provider did not answer in time" };
    // jose's generic error is what a JWKS endpoint answering other than 200 gets.
    if (error instanceof errors.JOSEError && error.code === "ERR_JOSE_GENERIC") return { ok: false, status: 502, reason: "the identity provider's keys could not be fetched" };
    if (error instanceof errors.JOSEError) return { ok: false, status: 401, reason: error.code === "ERR_JWT_EXPIRED" ? "the token has expired" : "the token is not valid" };
    // fetch failures (the identity provider is unreachable) are not JOSE errors
    return { ok: false, status: 502, reason: "the identity provider's keys could not be fetched" };
  }
  return { ok: true, claims };
}
