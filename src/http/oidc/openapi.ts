// The OpenID Connect provider's endpoints in /openapi.json. The provider
// library parses and answers these requests itself (they are not Hono routes
// with schemas), so they are described here by hand, as discovery lists them.
import { DISCOVERY, ROUTES } from "./routes";

const TAG = "OpenID Connect provider";

const page = (description: string) => ({ description, content: { "text/html": { schema: { type: "string" } } } });
const errorSchema = {
  type: "object",
  required: ["error"],
  properties: { error: { type: "string", examples: ["invalid_grant"] }, error_description: { type: "string" } },
};
/** The library's error: a page for a browser (Accept: text/html), else its JSON. */
const pageOrError = (description: string) => ({
  description,
  content: { "text/html": { schema: { type: "string" } }, "application/json": { schema: errorSchema } },
});
const redirect = (description: string) => ({ description, headers: { Location: { schema: { type: "string", format: "uri" } } } });
const oauthError = (description: string) => ({ description, content: { "application/json": { schema: errorSchema } } });
const form = (properties: Record<string, { type: string; description?: string }>, required: string[]) => ({
  required: true,
  content: { "application/x-www-form-urlencoded": { schema: { type: "object", required, properties } } },
});
const query = (name: string, description: string, required = false) => ({ in: "query", name, required, description, schema: { type: "string" } });

const authorizationParameters = [
  query("client_id", "The app's client id (`ssod app create`)", true),
  query("redirect_uri", "One of the app's redirect URIs, exactly", true),
  query("response_type", "`code` (the only one)", true),
  query("scope", "`openid`, and any of `profile`, `email`, `groups`, `offline_access`", true),
  query("state", "Returned unchanged"),
  query("nonce", "Carried into the ID token"),
  query("code_challenge", "PKCE S256 (required for public apps)"),
  query("code_challenge_method", "`S256`"),
  query("prompt", "`none`, `login` or `consent` (accepted, shows nothing)"),
  query("max_age", "Seconds: an older ssod sign-in goes through the portal again"),
  query("response_mode", "`query` (default) or `form_post`"),
  query("id_token_hint", "An ID token ssod issued: the user must be that one"),
  query("resource", "An https URL of the app's own origin: a JWT access token for it (RFC 8707, RFC 9068)"),
];

const authorization = {
  tags: [TAG],
  summary: "Authorization (code flow)",
  description:
    "GET only (README). A browser with an ssod session whose user passes the app's rule goes straight back with a code. Without one (or with prompt=login, or older than max_age), to the app's loginUrl or SSOD_LOGIN_URL with return_to. An unknown app or redirect URI is a page, never a redirect.",
  parameters: authorizationParameters,
  responses: {
    303: redirect("To the app's redirect URI with `code` and `state` (or `error`), or to ssod's sign-in step"),
    400: pageOrError("Not a valid authorization (an unknown app or redirect URI): a page, never a redirect"),
  },
};

const clientAuth = [{ appCredentials: [] }, {}];

export const oidcDocumentation = {
  tag: { name: TAG, description: "OpenID Connect: apps sign their users in through ssod, whose logins are the hand-off sessions (README, SPEC §7)" },
  securitySchemes: {
    appCredentials: {
      type: "http",
      scheme: "basic",
      description: "An app's client_id and client_secret (client_secret_basic; or both in the form: client_secret_post)",
    },
    accessToken: { type: "http", scheme: "bearer", description: "An access token ssod issued to an app" },
  },
  paths: {
    [DISCOVERY]: {
      get: {
        tags: [TAG],
        summary: "OpenID Connect discovery",
        description: "The provider's metadata: the issuer is SSOD_PUBLIC_URL; endpoints under /oidc; the JWKS at /.well-known/jwks.json.",
        responses: {
          200: {
            description: "The metadata (OpenID Connect Discovery 1.0)",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported", "subject_types_supported"],
                  properties: {
                    issuer: { type: "string", format: "uri" },
                    authorization_endpoint: { type: "string", format: "uri" },
                    token_endpoint: { type: "string", format: "uri" },
                    jwks_uri: { type: "string", format: "uri" },
                    response_types_supported: { type: "array", items: { type: "string" } },
                    subject_types_supported: { type: "array", items: { type: "string" } },
                  },
                },
              },
            },
          },
        },
      },
    },
    // GET only, as oidc-provider serves them by default: POST would need SameSite=None cookies.
    [ROUTES.authorization]: { get: authorization },
    [ROUTES.token]: {
      post: {
        tags: [TAG],
        summary: "Token endpoint",
        description:
          "`authorization_code` (a code lives 60 s, once, bound to its app, redirect URI and PKCE verifier; a second use revokes what the first issued) and `refresh_token` (offline_access only; rotated on every use).",
        security: clientAuth,
        requestBody: form(
          {
            grant_type: { type: "string", description: "`authorization_code` or `refresh_token`" },
            code: { type: "string" },
            redirect_uri: { type: "string" },
            code_verifier: { type: "string" },
            refresh_token: { type: "string" },
            client_id: { type: "string", description: "A public app's, or with client_secret_post" },
            client_secret: { type: "string", description: "client_secret_post" },
          },
          ["grant_type"],
        ),
        responses: {
          200: {
            description: "Tokens",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["access_token", "token_type"],
                  properties: {
                    access_token: { type: "string" },
                    token_type: { type: "string" },
                    expires_in: { type: "integer" },
                    id_token: { type: "string" },
                    refresh_token: { type: "string" },
                    scope: { type: "string" },
                  },
                },
              },
            },
          },
          400: oauthError("Not a valid grant (`invalid_grant`, `invalid_request`, …)"),
          401: oauthError("`invalid_client`: the app's credentials are wrong"),
          429: oauthError("Too many failed client authentications (Retry-After)"),
        },
      },
    },
    [ROUTES.userinfo]: {
      get: {
        tags: [TAG],
        summary: "UserInfo",
        description: "The claims the access token's scopes grant: sub, email and email_verified, name and preferred_username, groups and org_id.",
        security: [{ accessToken: [] }],
        responses: {
          200: {
            description: "The user's claims",
            content: { "application/json": { schema: { type: "object", required: ["sub"], properties: { sub: { type: "string" } } } } },
          },
          400: oauthError("No access token sent"),
          401: oauthError('Expired or revoked: `WWW-Authenticate: Bearer error="invalid_token"`'),
        },
      },
    },
    [ROUTES.end_session]: {
      get: {
        tags: [TAG],
        summary: "RP-initiated logout",
        description:
          "With an id_token_hint of the current session, a page that submits itself and ends the ssod session at once; otherwise a confirmation page whose same-origin POST ends it. Then to the registered post_logout_redirect_uri with state.",
        parameters: [
          query("id_token_hint", "An ID token ssod issued for this session"),
          query("post_logout_redirect_uri", "One of the app's post-logout redirect URIs, exactly"),
          query("state", "Returned unchanged"),
          query("client_id", "The app (needed for post_logout_redirect_uri without a hint)"),
        ],
        responses: { 200: page("The page that ends the session (at once, or after its button)"), 400: pageOrError("Not a valid logout request") },
      },
    },
    [`${ROUTES.end_session}/confirm`]: {
      post: {
        tags: [TAG],
        summary: "RP-initiated logout: the page's confirmation",
        description: "Sent by the logout page's form only: a request another site makes the browser send is refused.",
        responses: {
          303: redirect("To the post-logout redirect URI, or ssod's signed-out page"),
          400: pageOrError("Not from a logout page of this browser"),
          403: page("Sent from another site"),
        },
      },
    },
    [ROUTES.revocation]: {
      post: {
        tags: [TAG],
        summary: "Token revocation (RFC 7009)",
        security: clientAuth,
        requestBody: form({ token: { type: "string" }, token_type_hint: { type: "string" } }, ["token"]),
        responses: {
          200: { description: "Revoked (or not the app's, or unknown: the same answer)" },
          400: oauthError("No token"),
          401: oauthError("`invalid_client`"),
        },
      },
    },
    [ROUTES.introspection]: {
      post: {
        tags: [TAG],
        summary: "Token introspection (RFC 7662)",
        security: clientAuth,
        requestBody: form({ token: { type: "string" }, token_type_hint: { type: "string" } }, ["token"]),
        responses: {
          200: {
            description: "Whether the token is active, and its claims when it is the app's",
            content: { "application/json": { schema: { type: "object", required: ["active"], properties: { active: { type: "boolean" } } } } },
          },
          400: oauthError("No token"),
          401: oauthError("`invalid_client`"),
        },
      },
    },
    "/oidc/interaction/{uid}": {
      get: {
        tags: [TAG],
        summary: "The sign-in step of an authorization",
        description: "Where ssod decides whether the browser's ssod session will do; the portal's hand-off brings the browser back here.",
        parameters: [{ in: "path", name: "uid", required: true, schema: { type: "string" } }],
        responses: {
          303: redirect("On with the authorization, or to the portal's sign-in (return_to this URL)"),
          400: page("The sign-in has expired"),
          401: page("No session and no portal named: sign in through your portal"),
        },
      },
    },
  },
};
