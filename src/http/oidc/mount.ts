// The OpenID Connect provider mounted in ssod's Hono app: /oidc/* and
// discovery are handed to the library's Koa app on the Node request itself
// (the one route family that parses and answers its own requests), and
// /oidc/interaction/:uid is ssod's: where the ssod session becomes the login.
//
// The provider is built on the first OpenID Connect request, not at start
// (importing it costs start-up time), and built anew when the store's key set
// changes (it reads its keys once): an instance looks at most every
// SSOD_KEY_CHECK_MS, and at the moment a rotated key starts or stops signing.
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { type Context, Hono } from "hono";
import type Provider from "oidc-provider";
import { loginUrlFor } from "../../core/apps";
import type { Core } from "../../core/context";
import { sha256 } from "../../core/crypto";
import { findSessionUser } from "../../core/login-sessions";
import { keySetVersion, privateSigningKeys } from "../../core/signing-keys";
import type { Logger } from "../../log";
import type { AppEnv } from "../env";
import { failureOrLogged } from "../error-handler";
import { render } from "../failure";
import { browserRenderer } from "../shared/browser-renderer";
import { problemPage } from "../shared/pages";
import { readSessionCookie } from "../shared/session-cookie";
import { problemRenderer } from "../v1/problem";
import { type OidcRequest, requestScope } from "./request";
import { DISCOVERY } from "./routes";

interface Built {
  provider: Provider;
  callback: ReturnType<Provider["callback"]>;
  version: string;
  /** When a key starts or stops signing: the provider is built again then. */
  changesAt: number | undefined;
}

/** The provider of the current key set. */
class LiveProvider {
  readonly #core: Core;
  readonly #logger: Logger;
  #built: Promise<Built> | undefined;
  #checked = Number.NEGATIVE_INFINITY;
  #checking: Promise<Built> | undefined;

  constructor(core: Core, logger: Logger) {
    this.#core = core;
    this.#logger = logger;
  }

  async current(): Promise<Built> {
    this.#built ??= this.#build();
    const built = await this.#built.catch((error: unknown) => {
      this.#built = undefined;
      throw error;
    });
    const due = built.changesAt !== undefined && this.#core.now() >= built.changesAt;
    if (!due && performance.now() - this.#checked < this.#core.settings.keyCheckMs) return built;
    this.#checking ??= this.#recheck(built, due).finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #recheck(built: Built, due: boolean): Promise<Built> {
    this.#checked = performance.now();
    if (!due && (await keySetVersion(this.#core)) === built.version) return built;
    this.#built = this.#build();
    return this.#built;
  }

  async #build(): Promise<Built> {
    const { buildProvider } = await import("./provider");
    const version = await keySetVersion(this.#core);
    const keys = await privateSigningKeys(this.#core);
    const provider = buildProvider(this.#core, this.#logger, keys);
    const changesAt = keys
      .map((k) => k.changesAt)
      .filter((t): t is number => t !== undefined)
      .sort((a, b) => a - b)[0];
    return { provider, callback: provider.callback(), version, changesAt };
  }
}

/** Who the browser is at ssod (one keyed read, coalesced with concurrent ones), from where, for the provider and its adapter. */
async function describeRequest(c: Context<AppEnv>, core: Core, withSession: boolean): Promise<OidcRequest> {
  const cookie = withSession ? readSessionCookie(c) : undefined;
  const found = cookie ? await findSessionUser(core, cookie) : undefined;
  return {
    clientIp: c.get("clientIp"),
    requestId: c.get("requestId"),
    session:
      cookie && found
        ? {
            id: cookie,
            idHash: sha256(cookie),
            userId: found.userId,
            authTime: Math.floor(found.createdAt / 1000),
            createdAt: found.createdAt,
            expiresAt: found.expiresAt,
          }
        : undefined,
  };
}

/**
 * The provider builds endpoint URLs from the request's Host, not from its
 * issuer: a forged Host or X-Forwarded-* would change them. They are pinned to
 * SSOD_PUBLIC_URL, and the client's address to ssod's own decision (SPEC §5).
 */
function pin(c: Context<AppEnv>, core: Core, request: OidcRequest): void {
  const { incoming, outgoing } = c.env;
  const url = new URL(core.settings.publicUrl);
  const headers = incoming!.headers;
  headers.host = url.host;
  headers["x-forwarded-host"] = url.host;
  headers["x-forwarded-proto"] = url.protocol.slice(0, -1);
  headers["x-forwarded-for"] = request.clientIp;
  (incoming as unknown as { ssod: OidcRequest }).ssod = request;
  // Headers Hono would have added: this answer is written by the provider.
  outgoing!.setHeader("X-Request-Id", request.requestId);
}

/** ssod's own pages here, the failure vocabulary's (JSON for Accept: application/json). */
const pages = browserRenderer(problemRenderer);

/** Routes where the provider reads the browser's ssod session. */
const BROWSER_ROUTES = /^\/oidc\/(auth|session\/end)(\/|$)/;

export function oidcApp(core: Core, logger: Logger) {
  const app = new Hono<AppEnv>();
  const live = new LiveProvider(core, logger);
  app.onError((error, c) => render(pages, c, failureOrLogged(error, c, logger)));

  const handOver = async (c: Context<AppEnv>) => {
    const { incoming, outgoing } = c.env;
    if (!incoming || !outgoing) return c.html(problemPage("Not available", "The OpenID Connect provider answers a real HTTP server only."), 503);
    const request = await describeRequest(c, core, BROWSER_ROUTES.test(c.req.path));
    const { callback } = await live.current();
    pin(c, core, request);
    await requestScope.run(request, () => callback(incoming, outgoing));
    return RESPONSE_ALREADY_SENT;
  };

  app.get("/oidc/interaction/:uid", async (c) => {
    const { incoming, outgoing } = c.env;
    if (!incoming || !outgoing) return c.html(problemPage("Not available", "The OpenID Connect provider answers a real HTTP server only."), 503);
    const request = await describeRequest(c, core, true);
    const { provider } = await live.current();
    pin(c, core, request);
    return requestScope.run(request, () => interaction(c, core, provider, request));
  });
  app.all("/oidc/*", handOver);
  app.on(["GET", "OPTIONS"], [DISCOVERY, "/.well-known/oauth-authorization-server"], handOver);
  return app;
}

/** How many times the browser may come back from the portal without a usable session before the app hears login_required. */
const MAX_ATTEMPTS = 3;

/**
 * The login step of an authorization: a browser whose ssod session satisfies
 * the request (signed in; freshly enough for prompt=login and max_age; the
 * user an id_token_hint names) finishes at once. Otherwise it goes to the
 * app's loginUrl or SSOD_LOGIN_URL (SPEC §6), whose hand-off brings it back
 * here signed in; with neither, a page says to sign in through the portal.
 */
async function interaction(c: Context<AppEnv>, core: Core, provider: Provider, request: OidcRequest): Promise<Response> {
  const { incoming, outgoing } = c.env as Required<AppEnv["Bindings"]>;
  let details: Awaited<ReturnType<Provider["interactionDetails"]>>;
  try {
    details = await provider.interactionDetails(incoming, outgoing);
  } catch {
    return c.html(problemPage("This sign-in has expired", "Go back to the application and sign in again."), 400);
  }
  if (details.uid !== c.req.param("uid")) return c.html(problemPage("This sign-in has expired", "Go back to the application and sign in again."), 400);
  const session = request.session;
  const reasons = details.prompt.reasons;
  const params = details.params as { max_age?: string | number; id_token_hint?: string; client_id?: string };
  // What this interaction has seen, kept in the interaction itself (the store, not
  // the browser): when it first sent the browser to the portal, and how often.
  const seen = (details.result as { ssod?: { startedAt: number; attempts: number } } | undefined)?.ssod;
  // Fresh: signed in at ssod after this interaction first asked for a sign-in (milliseconds: a second is too coarse).
  const fresh = session !== undefined && seen !== undefined && session.createdAt >= seen.startedAt;
  let satisfied = session !== undefined;
  if (satisfied && reasons.includes("login_prompt")) satisfied = fresh;
  if (satisfied && params.max_age !== undefined) satisfied = fresh || Math.floor(core.now() / 1000) - session!.authTime <= Number(params.max_age);
  if (satisfied && reasons.includes("id_token_hint")) satisfied = hintSubject(params.id_token_hint) === session!.userId;
  if (satisfied && (reasons.includes("essential_acr") || reasons.includes("essential_acrs"))) satisfied = false;
  if (satisfied) {
    await provider.interactionFinished(
      incoming,
      outgoing,
      { login: { accountId: session!.userId, ts: session!.authTime, remember: false }, consent: {} },
      { mergeWithLastSubmission: false },
    );
    return RESPONSE_ALREADY_SENT;
  }
  if ((seen?.attempts ?? 0) >= MAX_ATTEMPTS) {
    // The portal sent the browser back without a session that will do: the app hears so, no loop.
    await provider.interactionFinished(
      incoming,
      outgoing,
      { error: "login_required", error_description: "no ssod session that satisfies this sign-in" },
      { mergeWithLastSubmission: false },
    );
    return RESPONSE_ALREADY_SENT;
  }
  await provider.interactionResult(
    incoming,
    outgoing,
    { ssod: { startedAt: seen?.startedAt ?? core.now(), attempts: (seen?.attempts ?? 0) + 1 } },
    { mergeWithLastSubmission: false },
  );
  const app = (await core.apps.all()).find((a) => a.clientId === params.client_id);
  const returnTo = `${core.settings.publicUrl}/oidc/interaction/${details.uid}`;
  const portal = loginUrlFor(core, app, returnTo);
  if (portal) return c.redirect(portal, 303);
  return render(pages, c, { kind: "unauthenticated", reason: "no_session", message: "sign in through your portal first" });
}

/** The subject an id_token_hint names (the provider has checked its signature). */
function hintSubject(hint: string | undefined): string | undefined {
  const payload = hint?.split(".")[1];
  if (!payload) return undefined;
  try {
    return (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { sub?: string }).sub;
  } catch {
    return undefined;
  }
}
