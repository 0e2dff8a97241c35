CREATE TABLE "nodes" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"hostname" text NOT NULL,
	"status" text NOT NULL,
	"labels" jsonb NOT NULL,
	"cpu" double precision NOT NULL,
	"memory_mb" integer NOT NULL,
	"gpu" integer NOT NULL,
	"max_tasks" integer NOT NULL,
	"allocated_cpu" double precision DEFAULT 0 NOT NULL,
	"allocated_memory_mb" integer DEFAULT 0 NOT NULL,
	"allocated_gpu" integer DEFAULT 0 NOT NULL,
	"allocated_tasks" integer DEFAULT 0 NOT NULL,
	"cpu_percent" double precision,
	"memory_used_mb" integer,
	"running_task_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"engine_status" text,
	"token" text NOT NULL,
	"last_heartbeat_at" timestamp with time zone,
	"registered_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"task_id" uuid NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"status" text NOT NULL,
	"node_id" uuid,
	"attempt" integer NOT NULL,
	"reason" text
);
--> statement-breakpoint
CREATE TABLE "task_logs" (
	"task_id" uuid PRIMARY KEY NOT NULL,
	"attempt" integer NOT NULL,
	"logs" text NOT NULL,
	"truncated" boolean NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" uuid PRIMARY KEY NOT NULL,
	"seq" bigserial NOT NULL,
	"name" text,
	"image" text NOT NULL,
	"command" text,
	"env" jsonb NOT NULL,
	"priority" text NOT NULL,
	"cpu" double precision NOT NULL,
	"memory_mb" integer NOT NULL,
	"gpu" integer NOT NULL,
	"timeout_seconds" integer,
	"max_retries" integer NOT NULL,
	"retry_backoff_seconds" double precision NOT NULL,
	"node_selector" jsonb NOT NULL,
	"labels" jsonb NOT NULL,
	"idempotency_key" text,
	"network" text NOT NULL,
	"status" text NOT NULL,
	"status_reason" text,
	"node_id" uuid,
	"attempts" integer DEFAULT 0 NOT NULL,
	"exit_code" integer,
	"error" text,
	"workflow_id" uuid,
	"workflow_key" text,
	"depends_on" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"scheduled_at" timestamp with time zone,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "tasks_idempotency_key_unique" UNIQUE("idempotency_key")
);
--> statement-breakpoint
ALTER TABLE "task_events" ADD CONSTRAINT "task_events_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task_logs" ADD CONSTRAINT "task_logs_task_id_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "task_events_task_idx" ON "task_events" USING btree ("task_id","id");--> statement-breakpoint
CREATE INDEX "tasks_status_idx" ON "tasks" USING btree ("status");--> statement-breakpoint
CREATE INDEX "tasks_seq_idx" ON "tasks" USING btree ("seq");--> statement-breakpoint
CREATE INDEX "tasks_node_idx" ON "tasks" USING btree ("node_id");--> statement-breakpoint
CREATE INDEX "tasks_workflow_idx" ON "tasks" USING btree ("workflow_id");