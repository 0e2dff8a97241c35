CREATE TABLE "workflows" (
	"id" uuid PRIMARY KEY NOT NULL,
	"seq" bigserial NOT NULL,
	"name" text,
	"status" text NOT NULL,
	"on_failure" text NOT NULL,
	"max_parallel" integer,
	"created_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
DROP INDEX "tasks_workflow_idx";--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "dag_ready" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "workflows_seq_idx" ON "workflows" USING btree ("seq");--> statement-breakpoint
CREATE INDEX "workflows_status_idx" ON "workflows" USING btree ("status");--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_workflow_id_workflows_id_fk" FOREIGN KEY ("workflow_id") REFERENCES "public"."workflows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "tasks_depends_on_idx" ON "tasks" USING gin ("depends_on");--> statement-breakpoint
CREATE INDEX "tasks_workflow_idx" ON "tasks" USING btree ("workflow_id","status");