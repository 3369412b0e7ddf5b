ALTER TABLE `payments` ADD `refund_due_at` datetime(3);
--> statement-breakpoint
CREATE INDEX `payments_status_updated_idx` ON `payments` (`status`,`updated_at`);
