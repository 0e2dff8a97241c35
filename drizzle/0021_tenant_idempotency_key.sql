-- The new index first, then the old one dropped: a DROP INDEX takes an ACCESS EXCLUSIVE lock on
-- tasks, held until the upgrade's transaction commits, so taken first it stalled every read of
-- tasks through the whole build (0.57 s at 2 M rows). The table is locked EXCLUSIVE for the
-- build (plain reads go on; writes and FOR UPDATE wait, as CREATE INDEX's SHARE lock would make
-- writes wait) rather than left to CREATE INDEX's SHARE: a transaction that had locked a task
-- FOR UPDATE while the index was built, and waited to update it, held a lock the DROP then
-- waited for, and the upgrade failed (40P01). Waits for a lock are bounded, so an upgrade behind
-- a long transaction fails with "lock timeout" instead of holding requests behind it: 10 s for
-- the first lock (only writes queue behind it), 3 s for the drop (every request queues behind it).
SET LOCAL lock_timeout = '10s';--> statement-breakpoint
LOCK TABLE "tasks" IN EXCLUSIVE MODE;--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_tenant_idempotency_key_uq" ON "tasks" USING btree ("tenant","idempotency_key") WHERE idempotency_key is not null;--> statement-breakpoint
SET LOCAL lock_timeout = '3s';--> statement-breakpoint
DROP INDEX "tasks_idempotency_key_uq";--> statement-breakpoint
SET LOCAL lock_timeout TO DEFAULT;
