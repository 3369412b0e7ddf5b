CREATE TABLE `gateway_transactions` (
	`idempotency_key` varchar(80) NOT NULL,
	`ref` varchar(80) NOT NULL,
	`type` enum('charge','refund') NOT NULL,
	`outcome` enum('succeeded','declined') NOT NULL,
	`decline_code` varchar(64),
	`payment_ref` varchar(80),
	`amount_cents` bigint unsigned NOT NULL,
	`currency` char(3) NOT NULL,
	`at` datetime(3) NOT NULL,
	CONSTRAINT `gateway_transactions_idempotency_key` PRIMARY KEY(`idempotency_key`)
);
--> statement-breakpoint
CREATE TABLE `notifications` (
	`id` varchar(40) NOT NULL,
	`order_id` varchar(40),
	`channel` enum('email','sms') NOT NULL,
	`recipient` varchar(254) NOT NULL,
	`subject` varchar(200),
	`body` text NOT NULL,
	`status` enum('queued','sent','failed') NOT NULL,
	`attempts` int unsigned NOT NULL DEFAULT 0,
	`dedupe_key` varchar(120),
	`provider_ref` varchar(120),
	`last_error` varchar(500),
	`created_at` datetime(3) NOT NULL,
	`updated_at` datetime(3) NOT NULL,
	CONSTRAINT `notifications_id` PRIMARY KEY(`id`),
	CONSTRAINT `notifications_dedupe_uq` UNIQUE(`dedupe_key`)
);
--> statement-breakpoint
CREATE TABLE `order_events` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`order_id` varchar(40) NOT NULL,
	`from_status` enum('pending','reserved','paid','completed','rejected','payment_failed','cancelled','failed'),
	`to_status` enum('pending','reserved','paid','completed','rejected','payment_failed','cancelled','failed') NOT NULL,
	`reason` varchar(255),
	`at` datetime(3) NOT NULL,
	CONSTRAINT `order_events_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `order_items` (
	`order_id` varchar(40) NOT NULL,
	`product_id` varchar(40) NOT NULL,
	`quantity` int unsigned NOT NULL,
	`unit_price_cents` bigint unsigned NOT NULL,
	CONSTRAINT `order_items_order_id_product_id_pk` PRIMARY KEY(`order_id`,`product_id`)
);
--> statement-breakpoint
CREATE TABLE `orders` (
	`id` varchar(40) NOT NULL,
	`user_id` varchar(40) NOT NULL,
	`status` enum('pending','reserved','paid','completed','rejected','payment_failed','cancelled','failed') NOT NULL,
	`total_cents` bigint unsigned NOT NULL,
	`currency` char(3) NOT NULL,
	`payment_token` varchar(64),
	`idempotency_key` varchar(255),
	`request_hash` char(64),
	`failure_reason` varchar(255),
	`reserved_until` datetime(3),
	`version` int unsigned NOT NULL DEFAULT 0,
	`created_at` datetime(3) NOT NULL,
	`updated_at` datetime(3) NOT NULL,
	CONSTRAINT `orders_id` PRIMARY KEY(`id`),
	CONSTRAINT `orders_user_idem_uq` UNIQUE(`user_id`,`idempotency_key`)
);
--> statement-breakpoint
CREATE TABLE `payments` (
	`id` varchar(40) NOT NULL,
	`order_id` varchar(40) NOT NULL,
	`status` enum('pending','succeeded','failed','refunded') NOT NULL,
	`amount_cents` bigint unsigned NOT NULL,
	`currency` char(3) NOT NULL,
	`idempotency_key` varchar(80) NOT NULL,
	`gateway_ref` varchar(80),
	`failure_code` varchar(64),
	`refund_ref` varchar(80),
	`created_at` datetime(3) NOT NULL,
	`updated_at` datetime(3) NOT NULL,
	CONSTRAINT `payments_id` PRIMARY KEY(`id`),
	CONSTRAINT `payments_order_uq` UNIQUE(`order_id`),
	CONSTRAINT `payments_idem_uq` UNIQUE(`idempotency_key`)
);
--> statement-breakpoint
CREATE TABLE `products` (
	`id` varchar(40) NOT NULL,
	`sku` varchar(64) NOT NULL,
	`name` varchar(200) NOT NULL,
	`price_cents` bigint unsigned NOT NULL,
	`currency` char(3) NOT NULL,
	`available` int unsigned NOT NULL DEFAULT 0,
	`reserved` int unsigned NOT NULL DEFAULT 0,
	`created_at` datetime(3) NOT NULL,
	`updated_at` datetime(3) NOT NULL,
	CONSTRAINT `products_id` PRIMARY KEY(`id`),
	CONSTRAINT `products_sku_uq` UNIQUE(`sku`)
);
--> statement-breakpoint
CREATE TABLE `refresh_tokens` (
	`id` varchar(40) NOT NULL,
	`user_id` varchar(40) NOT NULL,
	`family_id` varchar(40) NOT NULL,
	`secret_hash` varchar(64) NOT NULL,
	`expires_at` datetime(3) NOT NULL,
	`used_at` datetime(3),
	`revoked_at` datetime(3),
	`created_at` datetime(3) NOT NULL,
	CONSTRAINT `refresh_tokens_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `users` (
	`id` varchar(40) NOT NULL,
	`email` varchar(254) NOT NULL,
	`password_hash` varchar(255) NOT NULL,
	`name` varchar(100) NOT NULL,
	`phone_enc` varchar(255),
	`role` enum('user','admin') NOT NULL DEFAULT 'user',
	`created_at` datetime(3) NOT NULL,
	CONSTRAINT `users_id` PRIMARY KEY(`id`),
	CONSTRAINT `users_email_uq` UNIQUE(`email`)
);
--> statement-breakpoint
CREATE INDEX `gateway_tx_payment_idx` ON `gateway_transactions` (`payment_ref`);--> statement-breakpoint
CREATE INDEX `notifications_order_idx` ON `notifications` (`order_id`);--> statement-breakpoint
CREATE INDEX `notifications_status_idx` ON `notifications` (`status`,`updated_at`);--> statement-breakpoint
CREATE INDEX `order_events_order_idx` ON `order_events` (`order_id`,`id`);--> statement-breakpoint
CREATE INDEX `orders_user_created_idx` ON `orders` (`user_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `orders_status_updated_idx` ON `orders` (`status`,`updated_at`);--> statement-breakpoint
CREATE INDEX `refresh_tokens_family_idx` ON `refresh_tokens` (`family_id`);