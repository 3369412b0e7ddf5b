ALTER TABLE `order_events` ADD `actor_type` enum('user','admin','api_key','system') NOT NULL DEFAULT 'system', ADD `actor_id` varchar(40);
--> statement-breakpoint
CREATE TABLE `api_keys` (
	`id` varchar(40) NOT NULL,
	`name` varchar(100) NOT NULL,
	`scopes` varchar(255) NOT NULL,
	`secret_hash` varchar(64) NOT NULL,
	`created_by_type` enum('user','admin','api_key','system') NOT NULL,
	`created_by` varchar(40),
	`created_at` datetime(3) NOT NULL,
	`last_used_at` datetime(3),
	`deleted_at` datetime(3),
	`deleted_by` varchar(40),
	CONSTRAINT `api_keys_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE INDEX `api_keys_created_idx` ON `api_keys` (`created_at`);
--> statement-breakpoint
ALTER TABLE `products` ADD `created_by_type` enum('user','admin','api_key','system') NOT NULL DEFAULT 'system', ADD `created_by` varchar(40);
