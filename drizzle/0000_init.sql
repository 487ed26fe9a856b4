CREATE TABLE `admin_accounts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`username` text NOT NULL,
	`password_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `admin_accounts_username_unique` ON `admin_accounts` (`username`);--> statement-breakpoint
CREATE TABLE `admin_keys` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`key_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `admin_keys_key_hash_unique` ON `admin_keys` (`key_hash`);--> statement-breakpoint
CREATE TABLE `admin_sessions` (
	`id_hash` text PRIMARY KEY NOT NULL,
	`account_id` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`ip` text,
	FOREIGN KEY (`account_id`) REFERENCES `admin_accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `admin_sessions_expires_idx` ON `admin_sessions` (`expires_at`);--> statement-breakpoint
CREATE TABLE `audit_events` (
	`id` integer PRIMARY KEY NOT NULL,
	`at` integer NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`target` text,
	`outcome` text NOT NULL,
	`ip` text,
	`source_code` text,
	`user_id` text,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `audit_action_idx` ON `audit_events` (`action`,`id`);--> statement-breakpoint
CREATE INDEX `audit_source_idx` ON `audit_events` (`source_code`,`id`);--> statement-breakpoint
CREATE INDEX `audit_user_idx` ON `audit_events` (`user_id`,`id`);--> statement-breakpoint
CREATE TABLE `groups` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`org_id` text DEFAULT '' NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `groups_org_name_idx` ON `groups` (`org_id`,`name`);--> statement-breakpoint
CREATE TABLE `login_sessions` (
	`id_hash` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`source_id` integer,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`ip` text,
	`user_agent` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`source_id`) REFERENCES `sso_sources`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `login_sessions_user_idx` ON `login_sessions` (`user_id`);--> statement-breakpoint
CREATE INDEX `login_sessions_expires_idx` ON `login_sessions` (`expires_at`);--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `signing_keys` (
	`kid` text PRIMARY KEY NOT NULL,
	`alg` text NOT NULL,
	`public_jwk` text NOT NULL,
	`private_key_enc` text NOT NULL,
	`created_at` integer NOT NULL,
	`retired_at` integer,
	`publish_until` integer
);
--> statement-breakpoint
CREATE TABLE `sso_sources` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`code` text NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`expires_at` integer,
	`valid_for_seconds` integer NOT NULL,
	`create_users` integer DEFAULT true NOT NULL,
	`perform_login` integer DEFAULT true NOT NULL,
	`return_user_data` integer DEFAULT true NOT NULL,
	`client_id` text NOT NULL,
	`client_secret_hash` text,
	`client_secret_enc` text,
	`signing_secret_enc` text,
	`allowed_ips` text DEFAULT '[]' NOT NULL,
	`redirect_urls` text DEFAULT '[]' NOT NULL,
	`idp_issuer` text,
	`idp_jwks_url` text,
	`idp_audience` text,
	`idp_required_scope` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sso_sources_code_unique` ON `sso_sources` (`code`);--> statement-breakpoint
CREATE UNIQUE INDEX `sso_sources_client_id_unique` ON `sso_sources` (`client_id`);--> statement-breakpoint
CREATE TABLE `sso_tokens` (
	`id` integer PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`ref_no` text NOT NULL,
	`source_id` integer NOT NULL,
	`dialect` text NOT NULL,
	`format` text NOT NULL,
	`section` text,
	`email` text,
	`email_norm` text,
	`display_name` text,
	`external_id` text,
	`org_id` text DEFAULT '' NOT NULL,
	`groups` text,
	`lob_id` text,
	`functionality` text,
	`redirect_url` text,
	`registered_only` integer DEFAULT false NOT NULL,
	`issued_ip` text,
	`issued_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`consumed_at` integer,
	`redeem_batch` text,
	`user_id` text,
	`revoked_at` integer,
	FOREIGN KEY (`source_id`) REFERENCES `sso_sources`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sso_tokens_token_hash_unique` ON `sso_tokens` (`token_hash`);--> statement-breakpoint
CREATE UNIQUE INDEX `sso_tokens_ref_no_unique` ON `sso_tokens` (`ref_no`);--> statement-breakpoint
CREATE INDEX `sso_tokens_expires_idx` ON `sso_tokens` (`expires_at`);--> statement-breakpoint
CREATE INDEX `sso_tokens_redeem_batch_idx` ON `sso_tokens` (`redeem_batch`) WHERE redeem_batch IS NOT NULL;--> statement-breakpoint
CREATE TABLE `users` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text DEFAULT '' NOT NULL,
	`email` text,
	`email_norm` text,
	`display_name` text,
	`external_id` text,
	`groups` text DEFAULT '[]' NOT NULL,
	`source_id` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`last_login_at` integer,
	FOREIGN KEY (`source_id`) REFERENCES `sso_sources`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_org_email_idx` ON `users` (`org_id`,`email_norm`);--> statement-breakpoint
CREATE UNIQUE INDEX `users_org_external_idx` ON `users` (`org_id`,`external_id`);--> statement-breakpoint
CREATE INDEX `users_created_idx` ON `users` (`created_at`);
--> statement-breakpoint
-- The `default` source (SPEC §1): what an admin key issues for when no sourceCode is given.
-- Its signing secret is sealed with the master key at first start (src/core/bootstrap.ts).
INSERT INTO `sso_sources` (`code`, `name`, `description`, `valid_for_seconds`, `client_id`, `created_at`, `updated_at`)
VALUES ('default', 'Default', 'Used by admin keys when no sourceCode is given', 60, 'src_' || lower(hex(randomblob(12))), CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
