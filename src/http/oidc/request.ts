// What the mount knows of the request it hands to the OpenID Connect
// provider: who the browser is signed in as at ssod (its login session), and
// from where. Kept in an AsyncLocalStorage of our own as well as on the Node
// request: the provider's interactionDetails() and interactionFinished() run
// outside its own request scope, where the adapter must still see it.
import { AsyncLocalStorage } from "node:async_hooks";

interface SsodSession {
  /** The session cookie's value (to end the session at logout); never stored or logged. */
  id: string;
  idHash: string;
  userId: string;
  /** When the user signed in at ssod, epoch seconds: the ID token's auth_time. */
  authTime: number;
  /** The same moment in milliseconds: whether a sign-in came after an authorization began. */
  createdAt: number;
  expiresAt: number;
}

export interface OidcRequest {
  session: SsodSession | undefined;
  clientIp: string;
  requestId: string;
}

export const requestScope = new AsyncLocalStorage<OidcRequest>();

/** The request being served, wherever the provider calls from. */
export function currentRequest(ctx?: { req?: unknown }): OidcRequest | undefined {
  return requestScope.getStore() ?? (ctx?.req as { ssod?: OidcRequest } | undefined)?.ssod;
}
