ALTER TABLE "tasks" DROP CONSTRAINT "tasks_idempotency_key_unique";--> statement-breakpoint
DROP INDEX "tasks_node_idx";--> statement-breakpoint
DROP INDEX "tasks_workflow_idx";--> statement-breakpoint
DROP INDEX "tasks_depends_on_idx";--> statement-breakpoint
DROP INDEX "tasks_name_idx";--> statement-breakpoint
DROP INDEX "tasks_labels_idx";--> statement-breakpoint
CREATE UNIQUE INDEX "tasks_idempotency_key_uq" ON "tasks" USING btree ("idempotency_key") WHERE idempotency_key is not null;--> statement-breakpoint
CREATE INDEX "tasks_node_idx" ON "tasks" USING btree ("node_id") WHERE node_id is not null;--> statement-breakpoint
CREATE INDEX "tasks_workflow_idx" ON "tasks" USING btree ("workflow_id","status") WHERE workflow_id is not null;--> statement-breakpoint
CREATE INDEX "tasks_depends_on_idx" ON "tasks" USING gin ("depends_on") WHERE workflow_id is not null;--> statement-breakpoint
CREATE INDEX "tasks_name_idx" ON "tasks" USING btree ("name" text_pattern_ops) WHERE name is not null;--> statement-breakpoint
CREATE INDEX "tasks_labels_idx" ON "tasks" USING gin ("labels" jsonb_path_ops) WHERE labels <> '{}'::jsonb;