// ssod's OpenID Connect provider (SPEC §7), on panva's oidc-provider (OpenID
// Certified): the protocol is the library's; what is ssod's is configured here.
// - The login is the ssod session: a check in the login prompt re-reads it on
//   every authorization, and it is adopted as the provider's session, so a
//   browser signed in at ssod gets its code at once (prompt=none too).
// - No consent page for admin-registered apps: the grant is made at once,
//   after the app's access rule (src/core/apps.ts).
// - State lives in the store (src/http/oidc/adapter.ts); keys come from
//   ssod's signing keys; cookies are signed with keys derived from the master key.
// - What the library does not do is added as Koa middleware (provider.use):
//   security headers and the request log, audit rows, throttling of failed
//   client authentication, 503 for a store outage, the cross-site refusal of
//   the logout confirmation, and ending the ssod session at logout.
import { createHash } from "node:crypto";
import type { JWK } from "jose";
import Provider, { type Configuration, errors, interactionPolicy, type KoaContextWithOIDC } from "oidc-provider";
import { appAdmits, recordAccessDenied } from "../../core/apps";
import { actorName, recordAudit } from "../../core/audit";
import { recordFailure } from "../../core/auth";
import type { Core } from "../../core/context";
import { endLoginSession } from "../../core/login-sessions";
import type { PrivateSigningKey } from "../../core/signing-keys";
import { findUser } from "../../core/users";
import type { Logger } from "../../log";
import { StoreUnavailableError } from "../../store/errors";
import { CONFIRM_PAGE_REFERRER_POLICY, pageAround } from "../shared/pages";
import { sentByAnotherSite } from "../shared/same-origin";
import { clearedSessionCookie } from "../shared/session-cookie";
import { storeAdapter } from "./adapter";
import { currentRequest, type OidcRequest } from "./request";
import { ROUTES } from "./routes";

const esc = (s: unknown) => String(s ?? "").replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Keygrip keys for the provider's cookies: the same on every instance, derived from the master key. */
function cookieKeys(core: Core): string[] {
  return [core.masterKey.derive("ssod oidc cookies v1").toString("base64url")];
}

/** The signing keys as the provider takes them: the one signing each algorithm now, then the published ones it may only verify with. */
function providerJwks(keys: readonly PrivateSigningKey[]): JWK[] {
  return [...keys.filter((k) => k.signs).map((k) => k.jwk), ...keys.filter((k) => !k.signs).map((k) => ({ ...k.jwk, key_ops: ["verify"] }))];
}

interface AuditRow {
  action: string;
  outcome: "success" | "failure";
  clientId?: string | undefined;
  userId?: string | undefined;
  detail?: Record<string, unknown>;
}

type Ctx = KoaContextWithOIDC & { _matchedRouteName?: string; state: { audit?: AuditRow[]; storeDown?: boolean } };

const ssodOf = (ctx: KoaContextWithOIDC): OidcRequest | undefined => currentRequest(ctx);

export function buildProvider(core: Core, logger: Logger, keys: readonly PrivateSigningKey[]): Provider {
  const issuer = core.settings.publicUrl;
  const secure = issuer.startsWith("https:");

  // The login prompt re-reads the ssod session on every authorization: none, or another user's, is a login to do.
  const policy = interactionPolicy.base();
  policy.get("login")!.checks.add(
    new interactionPolicy.Check("ssod_session", "no ssod session, or one of another user", "login_required", (ctx) => {
      const session = ssodOf(ctx)?.session;
      return !session || ctx.oidc.session?.accountId !== session.userId ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
    0,
  );
  // prompt=consent stays valid (offline_access asks for it) but shows nothing: the grant is made at once.
  policy.get("consent")!.checks.remove("consent_prompt");

  const configuration: Configuration = {
    adapter: storeAdapter(core),
    jwks: { keys: providerJwks(keys) as never },
    cookies: {
      keys: cookieKeys(core),
      names: { session: "ssod_oidc", interaction: "ssod_oidc_interaction", resume: "ssod_oidc_resume" },
      long: { httpOnly: true, sameSite: "lax", secure },
      short: { httpOnly: true, sameSite: "lax", secure },
    },
    routes: ROUTES,
    responseTypes: ["code"],
    clientAuthMethods: ["client_secret_basic", "client_secret_post", "none"],
    // S256 only (oidc-provider 9 knows no other); required of public apps.
    pkce: { required: (_ctx, client) => client.clientAuthMethod === "none" },
    scopes: ["openid", "offline_access", "profile", "email", "groups"],
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "preferred_username"], groups: ["groups", "org_id"] },
    // The scope's claims in the ID token as well as from userinfo (SPEC §7).
    conformIdTokenClaims: false,
    enabledJWA: { idTokenSigningAlgValues: ["RS256", "ES256", "EdDSA"] },
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      claimsParameter: { enabled: false },
      userinfo: { enabled: true },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => client.clientAuthMethod !== "none" && token.clientId === client.clientId },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource,
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = pageAround("Signed out", "<p>You are signed out.</p>");
        },
      },
      resourceIndicators: {
        enabled: true,
        // No resource named: an opaque access token for userinfo.
        defaultResource: async () => undefined,
        useGrantedResource: async () => true,
        // A resource an app may name: an https URL on the origin of one of its redirect URIs or forward-auth hosts (its own API).
        getResourceServerInfo: async (ctx, indicator) => {
          const app = (await core.apps.all()).find((a) => a.clientId === ctx.oidc.client?.clientId);
          const origin = URL.canParse(indicator) ? new URL(indicator).origin : undefined;
          const own =
            app && origin && [...app.redirectUris.map((u) => new URL(u).origin), ...(app.forwardAuth?.hosts ?? []).map((h) => `https://${h}`)].includes(origin);
          if (!own) throw new errors.InvalidTarget("the resource is not one of this app's origins");
          return { scope: "openid profile email groups", audience: indicator, accessTokenFormat: "jwt", accessTokenTTL: 600, jwt: { sign: { alg: "RS256" } } };
        },
      },
    },
    interactions: { policy, url: async (_ctx, interaction) => `/oidc/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const user = await findUser(core, sub);
      if (!user) return undefined;
      return {
        accountId: user.id,
        claims: async () => ({
          sub: user.id,
          // A trusted source asserted it.
          email: user.email ?? undefined,
          email_verified: user.email !== null,
          name: user.displayName ?? undefined,
          preferred_username: user.externalId ?? user.email ?? user.id,
          groups: user.groups,
          org_id: user.orgId,
        }),
      };
    },
    // No consent page: the grant is made or extended with what is asked, once the app's access rule admits the user.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const clientId = oidc.client!.clientId;
      const app = (await core.apps.all()).find((a) => a.clientId === clientId);
      const user = oidc.session?.accountId ? await findUser(core, oidc.session.accountId) : undefined;
      if (!app || !user) throw new errors.AccessDenied("you may not use this application");
      if (!appAdmits(app, user)) {
        await recordAccessDenied(core, app, user, "oidc", ssodOf(ctx)?.clientIp ?? null);
        throw new errors.AccessDenied("you may not use this application");
      }
      const grantId = oidc.result?.consent?.grantId ?? oidc.session!.grantIdFor(clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (grant && grant.accountId !== user.id) grant = undefined;
      grant ??= new oidc.provider.Grant({ accountId: user.id, clientId });
      const scopes = [...oidc.requestParamOIDCScopes].join(" ");
      if (scopes) grant.addOIDCScope(scopes);
      for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
        const wanted = [...oidc.requestParamScopes].filter((s) => server.scopes.has(s));
        if (wanted.length > 0) grant.addResourceScope(indicator, wanted.join(" "));
      }
      await grant.save();
      return grant;
    },
    // Every token dies with the ssod session it was issued under (the default exempts offline_access).
    expiresWithSession: async () => true,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Interaction: 600,
      Grant: 14 * 24 * 3600,
      Session: core.settings.sessionTtlSeconds,
      ClientCredentials: 600,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
      PreAuthorizedCode: 600,
    },
    clientBasedCORS: (_ctx, origin, client) =>
      client.clientAuthMethod === "none" && client.redirectUris!.some((u) => URL.canParse(u) && new URL(u).origin === origin),
    // An error that cannot go back to a registered redirect URI: a small page, never a redirect.
    async renderError(ctx, out) {
      ctx.type = "html";
      if (ctx.status < 400) ctx.status = 400;
      const title = ctx.path.startsWith(ROUTES.end_session) ? "Sign-out failed" : "Sign-in failed";
      ctx.body = pageAround(title, `<p><code>${esc(out.error)}</code>: ${esc(out.error_description)}</p>`);
    },
  };

  const provider = new Provider(issuer, configuration);
  // The mount pins Host and X-Forwarded-* to the public URL and the client's address (src/http/oidc/mount.ts).
  provider.proxy = true;
  adoptSsodSession(provider);
  provider.on("server_error", (ctx: Ctx, error: unknown) => {
    if (error instanceof StoreUnavailableError || (error as { cause?: unknown })?.cause instanceof StoreUnavailableError) ctx.state.storeDown = true;
    else logger.error({ err: error, reqId: ssodOf(ctx)?.requestId }, "oidc server error");
  });
  // Without a listener, Koa prints what escapes it to stderr itself.
  (provider as unknown as { on(event: "error", listener: (error: unknown) => void): void }).on("error", (error) => logger.error({ err: error }, "oidc error"));
  installMiddleware(provider, core, logger);
  installAudit(provider, core);
  return provider;
}

/**
 * A browser signed in at ssod is signed in here: the ssod session becomes the
 * provider's session at the authorization and logout endpoints. Another user
 * signed in at ssod in this browser gets a session of their own. (Session.get
 * is the library's internal API: oidc-provider is pinned, and a test keeps it honest.)
 */
function adoptSsodSession(provider: Provider): void {
  type SessionModel = { get(ctx: KoaContextWithOIDC): Promise<SessionLike>; instantiate(): SessionLike };
  type SessionLike = {
    accountId?: string;
    loginTs?: number;
    touched?: boolean;
    loginAccount(o: { accountId: string; loginTs: number; transient: boolean }): void;
  };
  const Session = provider.Session as unknown as SessionModel;
  const original = Session.get.bind(Session);
  Session.get = async (ctx) => {
    let session = await original(ctx);
    const ssod = ssodOf(ctx)?.session;
    if ((ctx.oidc?.route !== "authorization" && ctx.oidc?.route !== "end_session") || !ssod) return session;
    if (session.accountId && session.accountId !== ssod.userId) {
      session = Session.instantiate();
      ctx.oidc.entity("Session", session as never);
    }
    if (!session.accountId) {
      session.loginAccount({ accountId: ssod.userId, loginTs: ssod.authTime, transient: true });
      session.touched = true;
    } else if ((session.loginTs ?? 0) < ssod.authTime) {
      // A newer ssod login: auth_time and max_age follow it.
      session.loginTs = ssod.authTime;
      session.touched = true;
    }
    return session;
  };
}

/**
 * RP-initiated logout. An id_token_hint naming the current ssod session (its
 * user, and its sign-in time) proves the app asked: the page submits itself to
 * ssod's own origin. Otherwise the user confirms with a button.
 */
async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  const hint = (ctx.oidc.entities as { IdTokenHint?: { payload: { sub?: string; auth_time?: number } } }).IdTokenHint;
  const session = ssodOf(ctx)?.session;
  const namesThisSession = hint !== undefined && session !== undefined && hint.payload.sub === session.userId && hint.payload.auth_time === session.authTime;
  const withLogout = form.replace("</form>", '<input type="hidden" name="logout" value="yes"/></form>');
  // The form posts to ssod, whose answer redirects to the app's registered post-logout URI: a browser holds that redirect to form-action too.
  const after = ctx.oidc.params?.post_logout_redirect_uri;
  const formAction = typeof after === "string" && URL.canParse(after) ? `'self' ${new URL(after).origin}` : "'self'";
  if (namesThisSession) {
    const script = "document.getElementById('op.logoutForm').submit()";
    const hash = createHash("sha256").update(script).digest("base64");
    ctx.set(
      "Content-Security-Policy",
      `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${hash}'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    );
    ctx.set("Referrer-Policy", CONFIRM_PAGE_REFERRER_POLICY);
    ctx.body = pageAround(
      "Signing out…",
      `${withLogout}<noscript><button type="submit" form="op.logoutForm">Sign out</button></noscript><script>${script}</script>`,
      CONFIRM_PAGE_REFERRER_POLICY,
    );
    return;
  }
  ctx.set("Content-Security-Policy", `${PAGE_CSP}; form-action ${formAction}`);
  ctx.set("Referrer-Policy", CONFIRM_PAGE_REFERRER_POLICY);
  ctx.body = pageAround(
    "Sign out?",
    `${withLogout}<p>An application asks to sign you out.</p><button type="submit" form="op.logoutForm">Sign out</button>`,
    CONFIRM_PAGE_REFERRER_POLICY,
  );
}

const clientIdOfBasic = (header: string): string | undefined => {
  const m = /^basic\s+(\S+)$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, "%20"));
  } catch {
    return undefined;
  }
};

/** What ssod adds around the library, as Koa middleware (Hono's own after-middleware never sees these answers). */
function installMiddleware(provider: Provider, core: Core, logger: Logger): void {
  const ownOrigin = new URL(core.settings.publicUrl).origin;

  // Security headers, set before next(): form_post adds its script's hash to script-src. (The request
  // log line is ssod's own, src/http/middleware/request-log.ts.)
  provider.use(async (ctx, next) => {
    ctx.set("X-Content-Type-Options", "nosniff");
    ctx.set("Referrer-Policy", "no-referrer");
    ctx.set("X-Frame-Options", "DENY");
    ctx.set("Cache-Control", "no-store");
    ctx.set("Content-Security-Policy", PAGE_CSP);
    await next();
  });

  // A store outage is a 503 with Retry-After, never a 500 (SPEC §5).
  provider.use(async (ctx, next) => {
    await next();
    if ((ctx as Ctx).state.storeDown) {
      ctx.status = 503;
      ctx.set("Retry-After", "1");
      ctx.type = "json";
      ctx.body = { error: "temporarily_unavailable", error_description: "the store is unavailable, retry shortly" };
    }
  });

  // Discovery lists what the library registered (fragment too); SPEC §7 offers query and form_post.
  provider.use(async (ctx, next) => {
    await next();
    if ((ctx as Ctx)._matchedRouteName === "discovery" && ctx.status === 200 && ctx.body && typeof ctx.body === "object") {
      (ctx.body as { response_modes_supported?: string[] }).response_modes_supported = ["query", "form_post"];
    }
  });

  // SPEC §5: the logout confirmation changes state on the session cookie: never from another site.
  provider.use(async (ctx, next) => {
    if (ctx.method === "POST" && ctx.path === `${ROUTES.end_session}/confirm`) {
      if (sentByAnotherSite({ secFetchSite: ctx.get("sec-fetch-site") || undefined, origin: ctx.get("origin") || undefined }, ownOrigin)) {
        ctx.status = 403;
        ctx.type = "html";
        ctx.body = pageAround("Not allowed", "<p>This request came from another site; sign out from this one.</p>");
        return;
      }
    }
    await next();
  });

  // Failed client authentication is throttled like a source's: counted per IP and client id, 429 past the limits.
  // The request always runs: valid credentials are never refused.
  provider.use(async (ctx, next) => {
    await next();
    const route = (ctx as Ctx)._matchedRouteName;
    if (route !== "token" && route !== "revocation" && route !== "introspection") return;
    if (ctx.status !== 401 || (ctx.body as { error?: string } | undefined)?.error !== "invalid_client") return;
    const oidc = (ctx as KoaContextWithOIDC).oidc;
    const clientId = oidc.client?.clientId ?? (oidc.params?.client_id as string | undefined) ?? clientIdOfBasic(ctx.get("authorization")) ?? "";
    const retryAfter = await recordFailure(core, {
      ip: ssodOf(ctx as KoaContextWithOIDC)?.clientIp ?? ctx.ip,
      action: "oidc.client_auth_failed",
      credential: clientId ? { kind: "client", value: clientId } : undefined,
      detail: { route },
    });
    if (retryAfter > 0) {
      ctx.status = 429;
      ctx.set("Retry-After", String(retryAfter));
      ctx.remove("WWW-Authenticate");
      ctx.body = { error: "invalid_client", error_description: "too many failed client authentications, retry later" };
    }
  });

  // RP-initiated logout ends the ssod session too, and every token issued under it (SPEC §7).
  provider.use(async (ctx, next) => {
    await next();
    const route = (ctx as Ctx)._matchedRouteName;
    const request = ssodOf(ctx as KoaContextWithOIDC);
    if (route === "end_session_confirm" && (ctx as KoaContextWithOIDC).oidc.params?.logout && request?.session && ctx.status < 400) {
      await endLoginSession(core, request.session.id, request.clientIp);
      ctx.append("Set-Cookie", clearedSessionCookie(core));
    }
  });

  // Audit rows collected by the (synchronous) event listeners are written before the answer goes.
  provider.use(async (ctx, next) => {
    const rows: AuditRow[] = [];
    (ctx as Ctx).state.audit = rows;
    try {
      await next();
      const route = (ctx as Ctx)._matchedRouteName;
      // The library has no event for a successful revocation or introspection.
      if ((route === "revocation" || route === "introspection") && ctx.status === 200) {
        rows.push({ action: `oidc.${route}`, outcome: "success", clientId: (ctx as KoaContextWithOIDC).oidc.client?.clientId });
      }
    } finally {
      const request = ssodOf(ctx as KoaContextWithOIDC);
      for (const row of rows) {
        await recordAudit(core, {
          actor: row.clientId ? `app:${row.clientId}` : actorName(undefined),
          action: row.action,
          outcome: row.outcome,
          target: row.clientId ?? null,
          userId: row.userId ?? null,
          ip: request?.clientIp ?? null,
          detail: row.detail ?? null,
        }).catch((error: unknown) => logger.warn({ err: error }, "an oidc audit row could not be written"));
      }
    }
  });
}

/** Audit rows from the library's events (a code, a token or a session id never goes in one). */
function installAudit(provider: Provider, core: Core): void {
  const push = (ctx: KoaContextWithOIDC, row: AuditRow) => (ctx as Ctx).state?.audit?.push(row);
  const failed = (error: { error?: string; error_description?: string }) => ({ error: error.error, description: error.error_description });
  provider.on("authorization.success", (ctx: KoaContextWithOIDC) => {
    const clientId = ctx.oidc.client?.clientId;
    if (clientId) core.telemetry.oidcLogin(clientId);
    push(ctx, { action: "oidc.authorization", outcome: "success", clientId, userId: ctx.oidc.session?.accountId });
  });
  provider.on("authorization.error", (ctx: KoaContextWithOIDC, error: { error?: string; error_description?: string }) =>
    push(ctx, {
      action: "oidc.authorization",
      outcome: "failure",
      clientId: ctx.oidc.client?.clientId,
      userId: ctx.oidc.session?.accountId,
      detail: failed(error),
    }),
  );
  const grantAction = (ctx: KoaContextWithOIDC) => (ctx.oidc.params?.grant_type === "refresh_token" ? "oidc.refresh" : "oidc.token");
  provider.on("grant.success", (ctx: KoaContextWithOIDC) =>
    push(ctx, { action: grantAction(ctx), outcome: "success", clientId: ctx.oidc.client?.clientId, userId: ctx.oidc.account?.accountId }),
  );
  provider.on("grant.error", (ctx: KoaContextWithOIDC, error: { error?: string; error_description?: string }) => {
    // invalid_client is audited by the throttle.
    if (error.error !== "invalid_client")
      push(ctx, { action: grantAction(ctx), outcome: "failure", clientId: ctx.oidc.client?.clientId, detail: failed(error) });
  });
  provider.on("grant.revoked", (ctx: KoaContextWithOIDC) =>
    push(ctx, { action: "oidc.grant_revoked", outcome: "success", clientId: ctx.oidc.client?.clientId }),
  );
  provider.on("end_session.success", (ctx: KoaContextWithOIDC) =>
    push(ctx, { action: "oidc.logout", outcome: "success", clientId: ctx.oidc.client?.clientId, userId: ssodOf(ctx)?.session?.userId }),
  );
  const onFailure = provider.on.bind(provider) as (
    event: string,
    listener: (ctx: KoaContextWithOIDC, error: { error?: string; error_description?: string }) => void,
  ) => void;
  for (const event of ["end_session.error", "end_session_confirm.error", "userinfo.error", "revocation.error", "introspection.error"]) {
    onFailure(event, (ctx, error) =>
      push(ctx, { action: `oidc.${event.split(".")[0]}`, outcome: "failure", clientId: ctx.oidc?.client?.clientId, detail: failed(error) }),
    );
  }
}
