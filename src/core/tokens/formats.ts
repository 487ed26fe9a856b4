// The text of a token, by format:
// - "nonce": 32 random bytes, base64url (Tyk nonces, native default);
// - "lob-jwt": seed 001's TokenNo, HS256 with the source's signing secret;
// - "jwt": the native signed token, EdDSA with the server's key (kid in the header).
import { SignJWT } from "jose";
import type { Core } from "../context";
import { randomSecret } from "../crypto";
import { hmacKey } from "../hmac-keys";
import { activeSigningKey, SIGNING_ALG } from "../signing-keys";
import type { IssueRequest } from "./issue";

export type TokenFormat = "nonce" | "jwt" | "lob-jwt";

/**
 * The longest token ssod issues or accepts. A JWT carries its claims, and a
 * browser's login URL holds the token: past this, request lines outgrow what
 * HTTP servers (Node's included) accept.
 */
export const MAX_TOKEN_LENGTH = 8192;

interface Stamp {
  tokenRefNo: string;
  issuedAt: number;
  expiresAt: number;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

/** The token's text, and the id of the server key that signed it (format "jwt" only). */
export async function tokenText(core: Core, request: IssueRequest, stamp: Stamp): Promise<{ text: string; kid: string | null }> {
  const { claims, source } = request;
  switch (request.format) {
    case "nonce":
      return { text: randomSecret(), kid: null };
    case "lob-jwt": {
      if (!source.secrets.signingSecretEnc) throw new Error(`source ${source.code} has no signing secret`);
      // The seed's claims, in the seed's order, plus jti = TokenRefNo.
      const payload = {
        CIINo: claims.externalId,
        LOBId: claims.lobId,
        Functionality: claims.functionality,
        Date: new Date(stamp.issuedAt).toISOString(),
        iat: seconds(stamp.issuedAt),
        exp: seconds(stamp.expiresAt),
        jti: stamp.tokenRefNo,
      };
      const text = await new SignJWT(payload)
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .sign(await hmacKey(core, source.secrets.signingSecretEnc, "signing_secret"));
      return { text, kid: null };
    }
    case "jwt": {
      const { kid, key } = await activeSigningKey(core);
      const payload = Object.fromEntries(
        Object.entries({
          sub: claims.email ?? claims.externalId,
          email: claims.email,
          name: claims.displayName,
          external_id: claims.externalId,
          org_id: claims.orgId || null,
          groups: claims.groups,
          section: claims.section,
          lob_id: claims.lobId,
          functionality: claims.functionality,
        }).filter(([, value]) => value !== null),
      );
      const text = await new SignJWT(payload)
        .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: "JWT" })
        .setIssuer(core.settings.publicUrl)
        .setAudience(source.code)
        .setJti(stamp.tokenRefNo)
        .setIssuedAt(seconds(stamp.issuedAt))
        .setExpirationTime(seconds(stamp.expiresAt))
        .sign(key);
      return { text, kid };
    }
  }
}
