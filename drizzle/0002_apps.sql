CREATE TABLE `apps` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`client_id` text NOT NULL,
	`client_secret_enc` text,
	`token_endpoint_auth_method` text DEFAULT 'client_secret_basic' NOT NULL,
	`redirect_uris` text DEFAULT '[]' NOT NULL,
	`post_logout_redirect_uris` text DEFAULT '[]' NOT NULL,
	`initiate_login_uri` text,
	`login_url` text,
	`allowed_groups` text DEFAULT '[]' NOT NULL,
	`org_ids` text DEFAULT '[]' NOT NULL,
	`id_token_signed_response_alg` text DEFAULT 'RS256' NOT NULL,
	`forward_auth_hosts` text,
	`forward_auth_path_prefixes` text DEFAULT '["/"]' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `apps_client_id_unique` ON `apps` (`client_id`);