-- Each endpoint keeps its own place in the outbox (`after_seq`): its job sends the events past it
-- and writes their delivery rows after the attempt, with its outcome, instead of the dispatcher
-- writing a pending row per (endpoint, event) that the job then updated: one row write per delivery
-- instead of two. Existing endpoints start where the shared dispatcher cursor stood (every event up to
-- it already has its delivery rows); that cursor is no longer used.
ALTER TABLE `webhook_endpoints` ADD COLUMN `after_seq` bigint unsigned NOT NULL DEFAULT 0;
--> statement-breakpoint
UPDATE `webhook_endpoints` SET `after_seq` = (SELECT `after_seq` FROM `webhook_dispatch` WHERE `id` = 1);
--> statement-breakpoint
DROP TABLE `webhook_dispatch`;
