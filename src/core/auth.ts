// Authentication of admins and sources, and what happens when it fails:
// every failure is audited and counted by the throttle (SPEC §5).

import { authenticateAdminSession } from "./admin-accounts";
import { authenticateAdminKey } from "./admin-keys";
import { type Actor, actorName, recordAudit } from "./audit";
import type { Core } from "./context";
import { safeEqual, sha256 } from "./crypto";
import type { Source } from "./sources";

export async function adminByKey(core: Core, key: string): Promise<Actor | undefined> {
  const found = await authenticateAdminKey(core, key);
  return found ? { kind: "admin_key", id: found.id, name: found.name } : undefined;
}

export async function adminBySession(core: Core, sessionId: string): Promise<Actor | undefined> {
  const found = await authenticateAdminSession(core, sessionId);
  return found ? { kind: "admin", id: found.id, username: found.username } : undefined;
}

/** The source whose client id and secret these are, if they match. */
export async function sourceByCredentials(core: Core, clientId: string, clientSecret: string): Promise<Source | undefined> {
  if (clientId.length > 128 || clientSecret.length > 256) return undefined;
  const source = await core.lookups.sourceByClientId.load(clientId);
  const expected = source?.secrets.clientSecretHash;
  // Hash and compare even when there is nothing to compare with, so timing says nothing.
  const ok = safeEqual(sha256(clientSecret), expected ?? sha256(""));
  return ok && expected ? source : undefined;
}

export function sourceActor(source: Source): Actor {
  return { kind: "source", id: source.id, code: source.code };
}

export interface AuthFailure {
  ip: string;
  /** What was tried: "admin.auth_failed", "source.auth_failed", "token.redeem_failed". */
  action: string;
  /** A non-secret name of the credential tried (username, client id), throttled on its own. */
  credential?: { kind: string; value: string } | undefined;
  /**
   * What the audit row names as tried, when not the credential's value: a
   * username that names no account is not stored (it may be a password typed
   * into the wrong field).
   */
  target?: string | null;
  detail?: Record<string, unknown>;
}

/** The throttle's key for a credential; names are cut to a length no real one reaches. */
const credentialKey = (credential: AuthFailure["credential"]) => (credential ? `${credential.kind}:${credential.value.slice(0, 128)}` : undefined);

/** Seconds until this IP and credential may fail again without a 429 (0: now), recording nothing. */
export function throttledFor(core: Core, ip: string, credential: AuthFailure["credential"]): number {
  return core.throttle.retryAfter(ip, credentialKey(credential));
}

/**
 * Records a failure: an audit row each, or, while its IP or credential is
 * throttled, a count in the burst's one row. Returns the seconds the caller
 * must wait when it has gone past a limit (answer 429 + Retry-After), else 0.
 */
export async function recordFailure(core: Core, failure: AuthFailure): Promise<number> {
  const verdict = core.throttle.fail(failure.ip, credentialKey(failure.credential));
  const event = {
    actor: actorName(undefined),
    action: failure.action,
    outcome: "failure" as const,
    target: failure.target !== undefined ? failure.target : (failure.credential?.value.slice(0, 128) ?? null),
    ip: failure.ip,
    detail: failure.detail ?? null,
  };
  if (verdict.retryAfter === 0) await recordAudit(core, event);
  else {
    core.failureBursts.add(event);
    core.telemetry.throttled(failure.action);
  }
  if (verdict.engaged) {
    const { perIp, perCredential, windowSeconds } = core.throttle.limits;
    await recordAudit(core, {
      actor: "system",
      action: "throttle.engaged",
      outcome: "failure",
      target: event.target ?? failure.ip,
      ip: failure.ip,
      detail: { after: failure.action, limits: { perIp, perCredential, windowSeconds } },
    });
  }
  return verdict.retryAfter;
}
