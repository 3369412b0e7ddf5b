CREATE TABLE `stripe_events` (
	`id` varchar(255) NOT NULL,
	`type` varchar(100) NOT NULL,
	`order_id` varchar(40),
	`received_at` datetime(3) NOT NULL,
	CONSTRAINT `stripe_events_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
ALTER TABLE `orders` ADD `disputed` boolean NOT NULL DEFAULT false;
--> statement-breakpoint
CREATE INDEX `payments_gateway_ref_idx` ON `payments` (`gateway_ref`);
