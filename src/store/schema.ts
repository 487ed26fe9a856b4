// The Drizzle schema: one table per concept of SPEC §1. `drizzle-kit generate`
// turns it into the SQL migrations under drizzle/.
//
// Conventions: times are integer milliseconds since the epoch (UTC); booleans
// are 0/1 integers; lists are JSON text. Secrets are never stored raw: a
// `*_hash` column holds a SHA-256 (base64url), a `*_enc` column an AES-256-GCM
// box sealed with the master key (see src/core/crypto.ts).
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

const bool = (name: string) => integer(name, { mode: "boolean" });

export const ssoSources = sqliteTable("sso_sources", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  code: text("code").notNull().unique(),
  name: text("name").notNull(),
  description: text("description").notNull().default(""),
  expiresAt: integer("expires_at"),
  validForSeconds: integer("valid_for_seconds").notNull(),
  createUsers: bool("create_users").notNull().default(true),
  performLogin: bool("perform_login").notNull().default(true),
  returnUserData: bool("return_user_data").notNull().default(true),
  clientId: text("client_id").notNull().unique(),
  clientSecretHash: text("client_secret_hash"),
  // HS256 caller JWTs (SPEC §2.2) are verified with the client secret itself,
  // so a sealed copy is kept beside the hash used for HTTP Basic.
  clientSecretEnc: text("client_secret_enc"),
  signingSecretEnc: text("signing_secret_enc"),
  allowedIps: text("allowed_ips").notNull().default("[]"),
  redirectUrls: text("redirect_urls").notNull().default("[]"),
  idpIssuer: text("idp_issuer"),
  idpJwksUrl: text("idp_jwks_url"),
  idpAudience: text("idp_audience"),
  idpRequiredScope: text("idp_required_scope"),
  // The orgs a source may issue for with its own credentials (JSON list; empty: any).
  orgIds: text("org_ids").notNull().default("[]"),
  // "direct": a landing GET consumes the token; "confirm": only the POST of the confirmation page does.
  landing: text("landing").notNull().default("direct"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export const adminKeys = sqliteTable("admin_keys", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull(),
  keyHash: text("key_hash").notNull().unique(),
  createdAt: integer("created_at").notNull(),
  revokedAt: integer("revoked_at"),
});

export const adminAccounts = sqliteTable("admin_accounts", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  username: text("username").notNull().unique(),
  passwordHash: text("password_hash").notNull(),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export const adminSessions = sqliteTable(
  "admin_sessions",
  {
    idHash: text("id_hash").primaryKey(),
    accountId: integer("account_id")
      .notNull()
      .references(() => adminAccounts.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    ip: text("ip"),
  },
  (t) => [index("admin_sessions_expires_idx").on(t.expiresAt)],
);

export const ssoTokens = sqliteTable(
  "sso_tokens",
  {
    // The rowid, without AUTOINCREMENT: its bookkeeping table costs a write per token.
    id: integer("id").primaryKey(),
    tokenHash: text("token_hash").notNull().unique(),
    refNo: text("ref_no").notNull().unique(),
    sourceId: integer("source_id")
      .notNull()
      .references(() => ssoSources.id, { onDelete: "cascade" }),
    dialect: text("dialect").notNull(),
    format: text("format").notNull(),
    section: text("section"),
    email: text("email"),
    emailNorm: text("email_norm"),
    displayName: text("display_name"),
    externalId: text("external_id"),
    orgId: text("org_id").notNull().default(""),
    groups: text("groups"),
    lobId: text("lob_id"),
    functionality: text("functionality"),
    redirectUrl: text("redirect_url"),
    registeredOnly: bool("registered_only").notNull().default(false),
    issuedIp: text("issued_ip"),
    issuedAt: integer("issued_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    consumedAt: integer("consumed_at"),
    // Marks the group commit that consumed the token, so the later statements
    // of that same batch can find "the tokens I just consumed" in SQL.
    redeemBatch: text("redeem_batch"),
    userId: text("user_id"),
    revokedAt: integer("revoked_at"),
  },
  (t) => [index("sso_tokens_expires_idx").on(t.expiresAt), index("sso_tokens_redeem_batch_idx").on(t.redeemBatch).where(sql`redeem_batch IS NOT NULL`)],
);

export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id").notNull().default(""),
    email: text("email"),
    emailNorm: text("email_norm"),
    displayName: text("display_name"),
    externalId: text("external_id"),
    groups: text("groups").notNull().default("[]"),
    sourceId: integer("source_id").references(() => ssoSources.id, { onDelete: "set null" }),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    lastLoginAt: integer("last_login_at"),
  },
  (t) => [
    uniqueIndex("users_org_email_idx").on(t.orgId, t.emailNorm),
    uniqueIndex("users_org_external_idx").on(t.orgId, t.externalId),
    index("users_created_idx").on(t.createdAt),
  ],
);

export const groups = sqliteTable(
  "groups",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    orgId: text("org_id").notNull().default(""),
    name: text("name").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("groups_org_name_idx").on(t.orgId, t.name)],
);

export const loginSessions = sqliteTable(
  "login_sessions",
  {
    idHash: text("id_hash").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    sourceId: integer("source_id").references(() => ssoSources.id, { onDelete: "set null" }),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    ip: text("ip"),
    userAgent: text("user_agent"),
  },
  (t) => [index("login_sessions_user_idx").on(t.userId), index("login_sessions_expires_idx").on(t.expiresAt)],
);

export const apps = sqliteTable("apps", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull(),
  clientId: text("client_id").notNull().unique(),
  // Sealed, not hashed: the OpenID Connect library compares it (in constant time) itself.
  clientSecretEnc: text("client_secret_enc"),
  tokenEndpointAuthMethod: text("token_endpoint_auth_method").notNull().default("client_secret_basic"),
  redirectUris: text("redirect_uris").notNull().default("[]"),
  postLogoutRedirectUris: text("post_logout_redirect_uris").notNull().default("[]"),
  initiateLoginUri: text("initiate_login_uri"),
  loginUrl: text("login_url"),
  allowedGroups: text("allowed_groups").notNull().default("[]"),
  orgIds: text("org_ids").notNull().default("[]"),
  idTokenSignedResponseAlg: text("id_token_signed_response_alg").notNull().default("RS256"),
  // JSON lists; forward_auth_hosts null: the app is not behind forward auth.
  forwardAuthHosts: text("forward_auth_hosts"),
  forwardAuthPathPrefixes: text("forward_auth_path_prefixes").notNull().default('["/"]'),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export const signingKeys = sqliteTable("signing_keys", {
  kid: text("kid").primaryKey(),
  alg: text("alg").notNull(),
  publicJwk: text("public_jwk").notNull(),
  privateKeyEnc: text("private_key_enc").notNull(),
  createdAt: integer("created_at").notNull(),
  // From when it signs (null: from created_at). A rotated-in key is published
  // first and signs only from here, once every verifier can have seen it.
  activeFrom: integer("active_from"),
  // Set when a newer key takes over; the public half stays published until
  // `publish_until`, when every token it signed has expired.
  retiredAt: integer("retired_at"),
  publishUntil: integer("publish_until"),
});

// The OpenID Connect provider's state (codes, tokens, grants, sessions,
// interactions), one row per object, so any instance can serve any step.
// `id` is the SHA-256 of the object's id: an opaque token's id is its value.
export const oidcPayloads = sqliteTable(
  "oidc_payloads",
  {
    kind: text("kind").notNull(),
    id: text("id").notNull(),
    payload: text("payload").notNull(),
    grantId: text("grant_id"),
    uid: text("uid"),
    // Session rows only: the hash of the ssod login session it mirrors.
    loginSession: text("login_session"),
    expiresAt: integer("expires_at").notNull(),
    consumedAt: integer("consumed_at"),
  },
  (t) => [
    primaryKey({ columns: [t.kind, t.id] }),
    index("oidc_payloads_grant_idx").on(t.grantId).where(sql`grant_id IS NOT NULL`),
    index("oidc_payloads_uid_idx").on(t.uid).where(sql`uid IS NOT NULL`),
    index("oidc_payloads_expires_idx").on(t.expiresAt),
  ],
);

export const auditEvents = sqliteTable(
  "audit_events",
  {
    // The rowid: append-only and never deleted from, so it only grows (the cursor of GET /v1/audit).
    id: integer("id").primaryKey(),
    at: integer("at").notNull(),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    target: text("target"),
    outcome: text("outcome").notNull(),
    ip: text("ip"),
    // No foreign keys: the log outlives what it speaks of.
    sourceCode: text("source_code"),
    userId: text("user_id"),
    detail: text("detail"),
  },
  (t) => [index("audit_action_idx").on(t.action, t.id), index("audit_source_idx").on(t.sourceCode, t.id), index("audit_user_idx").on(t.userId, t.id)],
);

export const settings = sqliteTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

// Webhook endpoints (SPEC §9): where signed event notifications go.
export const webhookEndpoints = sqliteTable("webhook_endpoints", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  url: text("url").notNull(),
  description: text("description").notNull().default(""),
  // The event types it wants (JSON list); "*" is every type but token.issued.
  events: text("events").notNull(),
  // `whsec_…`, sealed with the master key: it signs every delivery.
  secretEnc: text("secret_enc").notNull(),
  enabled: bool("enabled").notNull().default(true),
  disabledReason: text("disabled_reason"),
  // Since when every attempt has failed (null after a success): past SSOD_WEBHOOK_DISABLE_AFTER, the endpoint is disabled.
  failingSince: integer("failing_since"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

// The outbox and the delivery log in one: a row per event per endpoint that
// wants it, inserted in the same transaction as the change it reports (see
// src/core/webhooks/outbox.ts), then claimed, sent and recorded by the
// delivery worker of any instance (src/core/webhooks/delivery.ts).
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    // The rowid, without AUTOINCREMENT: its bookkeeping table would cost a write per event on the hot path.
    id: integer("id").primaryKey(),
    endpointId: integer("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: "cascade" }),
    // The `webhook-id` header: the same on every attempt, so receivers deduplicate by it.
    eventId: text("event_id").notNull(),
    type: text("type").notNull(),
    // The event's `data`, JSON; never a secret or a token.
    data: text("data").notNull(),
    occurredAt: integer("occurred_at").notNull(),
    // "pending" (due at next_attempt_at), "delivered" or "failed" (retryable by hand).
    status: text("status").notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    nextAttemptAt: integer("next_attempt_at"),
    // Who is sending it now, and until when: past lease_until any instance may claim it again.
    leaseUntil: integer("lease_until"),
    leaseOwner: text("lease_owner"),
    createdAt: integer("created_at").notNull(),
    deliveredAt: integer("delivered_at"),
    // When it became delivered or failed: the retention sweep's clock.
    finishedAt: integer("finished_at"),
  },
  (t) => [
    // What is due, per endpoint (the claim), and the pending count and oldest age (/metrics), from the index alone.
    index("webhook_deliveries_due_idx").on(t.endpointId, t.nextAttemptAt, t.createdAt).where(sql`status = 'pending'`),
    // The delivery log of an endpoint, newest first; and the cascade when an endpoint goes.
    index("webhook_deliveries_endpoint_idx").on(t.endpointId, t.id),
    // Deliveries in flight per endpoint (the per-endpoint concurrency bound).
    index("webhook_deliveries_leased_idx").on(t.endpointId, t.leaseUntil).where(sql`lease_until IS NOT NULL`),
    index("webhook_deliveries_finished_idx").on(t.finishedAt).where(sql`finished_at IS NOT NULL`),
  ],
);
