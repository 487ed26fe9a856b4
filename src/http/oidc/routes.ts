// Where the OpenID Connect provider's endpoints are: under /oidc, with
// discovery at the root (the issuer is SSOD_PUBLIC_URL itself) and the JWKS
// the one ssod already serves.
export const ROUTES = {
  authorization: "/oidc/auth",
  token: "/oidc/token",
  userinfo: "/oidc/me",
  end_session: "/oidc/session/end",
  revocation: "/oidc/token/revocation",
  introspection: "/oidc/token/introspection",
  jwks: "/.well-known/jwks.json",
};

export const DISCOVERY = "/.well-known/openid-configuration";
