ALTER TABLE `orders` MODIFY COLUMN `status` enum('pending','reserved','paid','completed','rejected','payment_failed','cancelled','failed','review') NOT NULL;
--> statement-breakpoint
ALTER TABLE `order_events` MODIFY COLUMN `from_status` enum('pending','reserved','paid','completed','rejected','payment_failed','cancelled','failed','review');
--> statement-breakpoint
ALTER TABLE `order_events` MODIFY COLUMN `to_status` enum('pending','reserved','paid','completed','rejected','payment_failed','cancelled','failed','review') NOT NULL;
--> statement-breakpoint
ALTER TABLE `orders` ADD `risk_score` double;
--> statement-breakpoint
ALTER TABLE `orders` ADD `risk_decision` enum('approve','review','reject');
--> statement-breakpoint
ALTER TABLE `orders` ADD `risk_reasons` varchar(255);
--> statement-breakpoint
ALTER TABLE `orders` ADD `risk_model` varchar(40);
--> statement-breakpoint
CREATE INDEX `orders_status_created_idx` ON `orders` (`status`,`created_at`,`id`);
