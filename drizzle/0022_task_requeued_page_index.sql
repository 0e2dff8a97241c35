CREATE INDEX "tasks_requeued_page_idx" ON "tasks" USING btree ("waiting_since","seq") WHERE status = 'queued' and waiting_since is not null;--> statement-breakpoint
DROP INDEX "tasks_requeued_idx";
