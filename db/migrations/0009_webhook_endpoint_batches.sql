-- Deliveries are sent in batches per endpoint, scheduled by `next_attempt_at` alone: the dispatcher
-- asks which endpoints have pending deliveries due, and each endpoint's job reads its due ones oldest
-- first. One index serves both (status, then endpoint, then due time); the old one served the
-- per-delivery overdue scan, which is gone.
CREATE INDEX `webhook_deliveries_endpoint_due_idx` ON `webhook_deliveries` (`status`,`endpoint_id`,`next_attempt_at`);
--> statement-breakpoint
DROP INDEX `webhook_deliveries_due_idx` ON `webhook_deliveries`;
