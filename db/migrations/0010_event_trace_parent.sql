-- Each outbox event keeps the W3C traceparent of the span that made its change (NULL when tracing was
-- off), so that its webhook deliveries, sent later by another process, are spans of that trace.
ALTER TABLE `events` ADD `trace_parent` varchar(55);
