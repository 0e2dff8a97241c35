-- A workflow's task by key, and the tasks waiting for a max_parallel slot (session 33: every
-- release hash-joined all of a workflow's tasks, and every task end sorted all its waiting ones).
-- Not CONCURRENTLY: the upgrade runs in a transaction, where it cannot. CREATE INDEX holds a SHARE
-- lock on tasks through the build (reads go on; writes wait: a few seconds on millions of
-- workflow tasks for the first, the second holds only pending ready tasks); waits for the lock
-- are bounded as in 0021 and 0022, so an upgrade behind a long transaction fails with "lock
-- timeout", saying so, instead of holding every write behind it. Unique: validate.ts has refused
-- a workflow with a duplicate key since workflows began (74b0f3d).
SET LOCAL lock_timeout = '10s';--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_workflow_key_uq" ON "tasks" USING btree ("workflow_id","workflow_key") WHERE workflow_id is not null;--> statement-breakpoint
CREATE INDEX "tasks_workflow_ready_idx" ON "tasks" USING btree ("workflow_id","seq") WHERE status = 'pending' and dag_ready;--> statement-breakpoint
SET LOCAL lock_timeout TO DEFAULT;
