-- The new index first, then the old one dropped (its ACCESS EXCLUSIVE lock on tasks is held until
-- the upgrade commits: taken first, it would stall every read of tasks through the build). The
-- build is short (the index holds only tasks queued again); waits for a lock are bounded, as in
-- 0021, so an upgrade behind a long transaction fails with "lock timeout", saying so, instead of
-- holding every request behind it.
SET LOCAL lock_timeout = '10s';--> statement-breakpoint
CREATE INDEX "tasks_requeued_page_idx" ON "tasks" USING btree ("waiting_since","seq") WHERE status = 'queued' and waiting_since is not null;--> statement-breakpoint
SET LOCAL lock_timeout = '3s';--> statement-breakpoint
DROP INDEX "tasks_requeued_idx";--> statement-breakpoint
SET LOCAL lock_timeout TO DEFAULT;
