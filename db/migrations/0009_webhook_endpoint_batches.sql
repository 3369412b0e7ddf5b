-- Deliveries are sent in batches per endpoint, scheduled by `next_attempt_at` alone. The dispatcher
-- asks which endpoints have pending deliveries due (a range over the due ones only, read from the
-- index alone); an endpoint's job reads its own due deliveries oldest first.
DROP INDEX `webhook_deliveries_due_idx` ON `webhook_deliveries`;
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_due_idx` ON `webhook_deliveries` (`status`,`next_attempt_at`,`endpoint_id`);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_endpoint_due_idx` ON `webhook_deliveries` (`status`,`endpoint_id`,`next_attempt_at`);
