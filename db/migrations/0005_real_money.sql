ALTER TABLE `gateway_transactions` MODIFY COLUMN `type` enum('charge','refund','authorization','capture','void') NOT NULL;
--> statement-breakpoint
ALTER TABLE `payments` MODIFY COLUMN `status` enum('pending','succeeded','failed','refunded','authorized','voided','partially_refunded') NOT NULL;
--> statement-breakpoint
ALTER TABLE `payments` ADD `capture_method` enum('automatic','manual') NOT NULL DEFAULT 'automatic';
--> statement-breakpoint
ALTER TABLE `orders` ADD `refunded_cents` bigint unsigned NOT NULL DEFAULT 0;
--> statement-breakpoint
CREATE TABLE `refunds` (
	`id` varchar(40) NOT NULL,
	`order_id` varchar(40) NOT NULL,
	`amount_cents` bigint unsigned NOT NULL,
	`restock` boolean NOT NULL DEFAULT false,
	`reason` varchar(255),
	`status` enum('pending','succeeded','failed') NOT NULL,
	`failure_code` varchar(64),
	`gateway_ref` varchar(80),
	`requested_by` varchar(40) NOT NULL,
	`actor_type` enum('user','admin','api_key','system') NOT NULL,
	`idempotency_key` varchar(255),
	`request_hash` char(64),
	`created_at` datetime(3) NOT NULL,
	`updated_at` datetime(3) NOT NULL,
	CONSTRAINT `refunds_id` PRIMARY KEY(`id`),
	CONSTRAINT `refunds_requester_idem_uq` UNIQUE(`requested_by`,`idempotency_key`),
	CONSTRAINT `refunds_gateway_ref_uq` UNIQUE(`gateway_ref`),
	INDEX `refunds_order_created_idx` (`order_id`,`created_at`),
	INDEX `refunds_status_updated_idx` (`status`,`updated_at`)
);
--> statement-breakpoint
CREATE TABLE `refund_items` (
	`refund_id` varchar(40) NOT NULL,
	`product_id` varchar(40) NOT NULL,
	`quantity` int unsigned NOT NULL,
	CONSTRAINT `refund_items_refund_id_product_id_pk` PRIMARY KEY(`refund_id`,`product_id`)
);
