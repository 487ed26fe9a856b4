// oidc-provider's storage adapter over ssod's store (src/core/oidc-store.ts),
// and its Client model over ssod's apps. Two guarantees it alone can give:
// - single use across instances: `consume` is a conditional update; the loser
//   revokes the grant (so the winner's tokens die too: tokens re-check their
//   grant) and is refused with invalid_grant;
// - the login is the ssod session: a session row is found only while the ssod
//   login session it mirrors lives, so ending that session (logout, an admin
//   ending a user's sessions, deleting the user) ends every token under it.
import type { Adapter, AdapterPayload } from "oidc-provider";
import { errors } from "oidc-provider";
import { clientSecretOf } from "../../core/apps";
import type { Core } from "../../core/context";
import {
  consumePayload,
  destroyByGrant,
  destroyPayload,
  findPayload,
  findSessionPayload,
  revokeGrant,
  type StoredPayload,
  upsertPayload,
} from "../../core/oidc-store";
import { currentRequest } from "./request";

/** What an object the library gives no lifetime lives (its grants' and refresh tokens' own lifetime). */
const LONGEST_LIFE_SECONDS = 14 * 24 * 3600;

/** The kinds whose objects hang off a grant. */
const GRANTABLE = new Set(["AccessToken", "AuthorizationCode", "RefreshToken", "DeviceCode", "BackchannelAuthenticationRequest", "PreAuthorizedCode"]);

/** Whether a session row may be used: anonymous, or its ssod login session (or this request's, of the same user) lives. */
function sessionUsable(found: StoredPayload & { loginSessionAlive: boolean }): boolean {
  const accountId = found.payload.accountId as string | undefined;
  if (!accountId || found.loginSessionAlive) return true;
  // Signed in anew at ssod (a fresh login session) in this browser: the same person; upsert re-links the row.
  return currentRequest()?.session?.userId === accountId;
}

const withState = (id: string, found: StoredPayload): AdapterPayload =>
  ({ ...found.payload, jti: id, ...(found.consumedAt !== null ? { consumed: found.consumedAt } : {}) }) as AdapterPayload;

/** The adapter class oidc-provider instantiates once per model name. */
export function storeAdapter(core: Core) {
  return class StoreAdapter implements Adapter {
    constructor(readonly kind: string) {}

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.kind === "Client") return clientMetadata(core, id);
      if (this.kind === "Session") {
        const found = await findSessionPayload(core, { id });
        return found && sessionUsable(found) ? withState(id, found) : undefined;
      }
      const found = await findPayload(core, this.kind, id);
      // oidc-provider decides "already used" from `consumed` here, and ignores consume()'s result.
      return found ? withState(id, found) : undefined;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const found = await findSessionPayload(core, { uid });
      // Its callers read accountId and authorizations only: the session's id (a cookie value) is not stored.
      return found && sessionUsable(found) ? (found.payload as AdapterPayload) : undefined;
    }

    async findByUserCode(): Promise<undefined> {
      return undefined; // no device flow
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const { jti: _id, ...stored } = payload as AdapterPayload & { jti?: string };
      // An interaction keeps a copy of the session cookie it never reads: not stored.
      if (this.kind === "Interaction" && stored.session) stored.session = { ...stored.session, cookie: undefined } as never;
      const session = currentRequest()?.session;
      await upsertPayload(core, {
        kind: this.kind,
        id,
        payload: stored,
        grantId: GRANTABLE.has(this.kind) ? ((payload.grantId as string | undefined) ?? null) : null,
        uid: this.kind === "Session" ? ((payload.uid as string | undefined) ?? null) : null,
        loginSession: this.kind === "Session" && session && session.userId === payload.accountId ? session.idHash : null,
        // The library gives no lifetime for some objects (a session without ttl): they live as long as the longest.
        expiresInSeconds: Number.isFinite(expiresIn) ? expiresIn : LONGEST_LIFE_SECONDS,
      });
    }

    async consume(id: string): Promise<void> {
      const { won, grantId } = await consumePayload(core, this.kind, id);
      if (won) return;
      // Another instance used it first: this use revokes what the first issued, and is refused.
      if (grantId) await revokeGrant(core, grantId);
      throw new errors.InvalidGrant(`${this.kind === "RefreshToken" ? "refresh token" : "authorization code"} already used`);
    }

    async destroy(id: string): Promise<void> {
      await destroyPayload(core, this.kind, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await destroyByGrant(core, this.kind, grantId);
    }
  };
}

/** An app as oidc-provider's client metadata (it caches clients by this metadata, so a change takes effect at once). */
async function clientMetadata(core: Core, clientId: string): Promise<AdapterPayload | undefined> {
  const app = (await core.apps.all()).find((a) => a.clientId === clientId);
  if (!app || app.redirectUris.length === 0) return undefined;
  const secret = app.tokenEndpointAuthMethod === "none" ? undefined : clientSecretOf(core, app);
  return {
    client_id: app.clientId,
    client_name: app.name,
    ...(secret ? { client_secret: secret } : {}),
    token_endpoint_auth_method: app.tokenEndpointAuthMethod,
    redirect_uris: app.redirectUris,
    post_logout_redirect_uris: app.postLogoutRedirectUris,
    ...(app.initiateLoginUri ? { initiate_login_uri: app.initiateLoginUri } : {}),
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    // SPEC §7: query and form_post (oidc-provider would allow fragment too).
    response_modes: ["query", "form_post"],
    id_token_signed_response_alg: app.idTokenSignedResponseAlg,
    application_type: "web",
    // SPEC §7 wants auth_time in every ID token; OIDC makes it conditional.
    require_auth_time: true,
  } as AdapterPayload;
}
