CREATE TABLE `events` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`seq` bigint unsigned,
	`type` varchar(32) NOT NULL,
	`order_id` varchar(40) NOT NULL,
	`refund_id` varchar(40),
	`created_at` datetime(3) NOT NULL,
	CONSTRAINT `events_id` PRIMARY KEY(`id`),
	CONSTRAINT `events_seq_uq` UNIQUE(`seq`)
);
--> statement-breakpoint
CREATE TABLE `webhook_endpoints` (
	`id` varchar(40) NOT NULL,
	`url` varchar(2048) NOT NULL,
	`events` varchar(1024) NOT NULL,
	`description` varchar(255),
	`secret_enc` varchar(255) NOT NULL,
	`status` enum('enabled','disabled') NOT NULL,
	`disabled_reason` varchar(255),
	`failing_since` datetime(3),
	`created_at` datetime(3) NOT NULL,
	`updated_at` datetime(3) NOT NULL,
	CONSTRAINT `webhook_endpoints_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` varchar(40) NOT NULL,
	`endpoint_id` varchar(40) NOT NULL,
	`event_id` bigint unsigned NOT NULL,
	`event_type` varchar(32) NOT NULL,
	`status` enum('pending','succeeded','failed') NOT NULL,
	`attempts` int unsigned NOT NULL DEFAULT 0,
	`last_status_code` int,
	`last_error` varchar(255),
	`next_attempt_at` datetime(3),
	`created_at` datetime(3) NOT NULL,
	`updated_at` datetime(3) NOT NULL,
	CONSTRAINT `webhook_deliveries_id` PRIMARY KEY(`id`),
	CONSTRAINT `webhook_deliveries_endpoint_event_uq` UNIQUE(`endpoint_id`,`event_id`),
	INDEX `webhook_deliveries_endpoint_idx` (`endpoint_id`,`id`),
	INDEX `webhook_deliveries_due_idx` (`status`,`next_attempt_at`)
);
--> statement-breakpoint
CREATE TABLE `webhook_dispatch` (
	`id` tinyint unsigned NOT NULL,
	`after_seq` bigint unsigned NOT NULL,
	CONSTRAINT `webhook_dispatch_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
INSERT INTO `webhook_dispatch` (`id`, `after_seq`) VALUES (1, 0);
