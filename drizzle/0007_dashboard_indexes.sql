CREATE INDEX "task_events_at_idx" ON "task_events" USING btree ("at");--> statement-breakpoint
CREATE INDEX "tasks_name_idx" ON "tasks" USING btree ("name" text_pattern_ops);--> statement-breakpoint
CREATE INDEX "tasks_labels_idx" ON "tasks" USING gin ("labels" jsonb_path_ops);