ALTER TABLE `sso_sources` ADD `org_ids` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `sso_sources` ADD `landing` text DEFAULT 'direct' NOT NULL;