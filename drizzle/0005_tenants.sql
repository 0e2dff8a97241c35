CREATE TABLE "tenants" (
	"name" text PRIMARY KEY NOT NULL,
	"weight" double precision DEFAULT 1 NOT NULL,
	"quota_cpu" double precision,
	"quota_memory_mb" integer,
	"quota_gpu" integer,
	"quota_max_running" integer,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "tenants_weight_positive" CHECK ("tenants"."weight" > 0)
);
--> statement-breakpoint
CREATE INDEX "tasks_tenant_active_idx" ON "tasks" USING btree ("tenant","cpu","memory_mb","gpu") WHERE status in ('scheduled', 'running');--> statement-breakpoint
CREATE INDEX "tasks_tenant_queued_idx" ON "tasks" USING btree ("tenant","cpu","memory_mb","gpu") WHERE status = 'queued';