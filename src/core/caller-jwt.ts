// Verifies the bearer JWT a line-of-business caller presents (SPEC §2.2):
// against the source's trusted identity provider (issuer + JWKS, such as
// Cognito), or, when the source has none, as HS256 with its client secret.
// Algorithms are allow-listed per path, so `none` and HS/RS confusion fail.
import { createRemoteJWKSet, customFetch, errors, type JWTPayload, jwtVerify } from "jose";
import type { Core } from "./context";
import { hmacKey } from "./hmac-keys";
import { fetchOutbound, type OutboundRules } from "./outbound";
import type { Source } from "./sources";

const ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

export type CallerVerdict =
  | { ok: true; claims: JWTPayload }
  /** 401: not a valid token for this source; 403: valid, but not allowed (scope, client). */
  | { ok: false; status: 401 | 403; reason: string }
  /** The identity provider's keys could not be fetched: 502, or 504 on a timeout. */
  | { ok: false; status: 502 | 504; reason: string };

// SPEC §5: a JWKS comes over https (plain http from loopback only), from no
// link-local address, without redirects, in at most 512 KiB: a key set is a
// few KiB, and one of 300 MB once took ssod to 1.95 GB.
const JWKS_RULES: OutboundRules = { allowHttp: false, maxBytes: 512 * 1024, timeoutMs: 5_000 };

// One remote key set per JWKS URL: jose caches the keys, refetches on an
// unknown `kid`, and waits `cooldownDuration` between fetches, so a flood of
// unknown kids cannot hammer the identity provider. It fetches through
// fetchOutbound; its own timeout is the same, so a timeout stays its JWKSTimeout.
function remoteKeySet(core: Core, jwksUrl: string) {
  return core.caches.remoteKeySets.getOrMake(jwksUrl, () =>
    createRemoteJWKSet(new URL(jwksUrl), {
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
      timeoutDuration: JWKS_RULES.timeoutMs,
      [customFetch]: (url, init) => fetchOutbound(url, init, JWKS_RULES),
    }),
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

const scopesOf = (claims: JWTPayload): string[] =>
  typeof claims.scope === "string" ? claims.scope.split(" ") : Array.isArray(claims.scp) ? (claims.scp as string[]) : [];

/** SPEC §5: the longest a caller JWT may live. Access tokens live minutes or hours; one minted for longer outlives any leak. */
const MAX_LIFETIME_SECONDS = 24 * 3600;

export async function verifyCallerJwt(core: Core, source: Source, token: string, presentedClientId: string): Promise<CallerVerdict> {
  const key = verificationKey(source, token);
  let claims = recalled(core, key);
  if (!claims) {
    const checked = await verifySignature(core, source, token);
    if (!checked.ok) return checked;
    claims = checked.claims;
    remember(core, key, claims);
  }
  // Only the signature check is remembered: what follows runs on every call,
  // so a token remembered for one source is judged anew for another.
  return judgeClaims(core, source, claims, presentedClientId);
}

/** SPEC §2.2 and §5 beyond jose's checks: lifetime, `iat`, the client the token names, the scope; 401s before 403s. */
function judgeClaims(core: Core, source: Source, claims: JWTPayload, clientId: string): CallerVerdict {
  const idp = source.identityProvider;
  const now = core.now() / 1000;
  const skew = core.settings.clockSkewSeconds;
  // jose has checked that exp is there and that iat, when there, is a number.
  const exp = claims.exp!;
  if (claims.iat !== undefined && claims.iat > now + skew) return { ok: false, status: 401, reason: "the token was issued in the future" };
  // Without iat, what is left of it counts; our clock may lag the caller's by the skew.
  const lifetime = claims.iat !== undefined ? exp - claims.iat : exp - now - skew;
  if (lifetime > MAX_LIFETIME_SECONDS) return { ok: false, status: 401, reason: "the token lives longer than 24 hours" };
  // Cognito access tokens name their app client in `client_id`; OIDC tokens may use `azp`.
  const named = [claims.client_id, claims.azp].filter((c): c is string => typeof c === "string" && c !== "");
  // Without an audience nothing else ties an identity provider's token to
  // this source: any app client of the provider could present its own.
  if (named.length === 0 && idp && !idp.audience) return { ok: false, status: 401, reason: "the token names no client (client_id or azp)" };
  if (idp?.requiredScope && !scopesOf(claims).includes(idp.requiredScope)) {
    return { ok: false, status: 403, reason: `the token lacks the scope ${idp.requiredScope}` };
  }
  if (named.some((c) => c !== clientId)) return { ok: false, status: 403, reason: "the token was issued to another client" };
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
    if (error instanceof errors.JOSEError && error.code === "ERR_JOSE_GENERIC")
      return { ok: false, status: 502, reason: "the identity provider's keys could not be fetched" };
    if (error instanceof errors.JOSEError)
      return { ok: false, status: 401, reason: error.code === "ERR_JWT_EXPIRED" ? "the token has expired" : "the token is not valid" };
    // Network failures and the outbound rules' refusals (src/core/outbound.ts) are not JOSE errors.
    return { ok: false, status: 502, reason: "the identity provider's keys could not be fetched" };
  }
  return { ok: true, claims };
}
