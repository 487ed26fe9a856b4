CREATE TABLE `oidc_payloads` (
	`kind` text NOT NULL,
	`id` text NOT NULL,
	`payload` text NOT NULL,
	`grant_id` text,
	`uid` text,
	`login_session` text,
	`expires_at` integer NOT NULL,
	`consumed_at` integer,
	PRIMARY KEY(`kind`, `id`)
);
--> statement-breakpoint
CREATE INDEX `oidc_payloads_grant_idx` ON `oidc_payloads` (`grant_id`) WHERE grant_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `oidc_payloads_uid_idx` ON `oidc_payloads` (`uid`) WHERE uid IS NOT NULL;--> statement-breakpoint
CREATE INDEX `oidc_payloads_expires_idx` ON `oidc_payloads` (`expires_at`);--> statement-breakpoint
ALTER TABLE `signing_keys` ADD `active_from` integer;