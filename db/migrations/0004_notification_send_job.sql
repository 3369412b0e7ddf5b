ALTER TABLE `notifications` ADD `send_job` varchar(40);
--> statement-breakpoint
CREATE INDEX `notifications_send_job_idx` ON `notifications` (`send_job`);
