-- Deliveries are sent in batches per endpoint, scheduled by `next_attempt_at` alone. One index serves
-- both reads: an endpoint's job reads its own due deliveries oldest first, and the dispatcher asks
-- which endpoints have deliveries due (`MIN(next_attempt_at)` per endpoint, a loose scan of the same
-- index: one step per endpoint, not per delivery). The old due index is dropped: one index fewer to
-- maintain on every delivery written.
DROP INDEX `webhook_deliveries_due_idx` ON `webhook_deliveries`;
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_endpoint_due_idx` ON `webhook_deliveries` (`status`,`endpoint_id`,`next_attempt_at`);
