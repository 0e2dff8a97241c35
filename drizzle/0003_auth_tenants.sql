CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"tenant" text NOT NULL,
	"hash" text NOT NULL,
	"rate_limit_per_s" double precision,
	"created_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_hash_unique" UNIQUE("hash")
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"key_id" uuid,
	"key_name" text,
	"tenant" text,
	"role" text,
	"action" text NOT NULL,
	"target" text,
	"status" integer NOT NULL,
	"client" text,
	"request_id" text
);
--> statement-breakpoint
CREATE TABLE "secrets" (
	"tenant" text NOT NULL,
	"name" text NOT NULL,
	"sealed" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "secrets_tenant_name_pk" PRIMARY KEY("tenant","name")
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "tenant" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "workflows" ADD COLUMN "tenant" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
CREATE INDEX "api_keys_tenant_idx" ON "api_keys" USING btree ("tenant");--> statement-breakpoint
CREATE INDEX "audit_log_at_idx" ON "audit_log" USING btree ("at");--> statement-breakpoint
CREATE INDEX "audit_log_key_idx" ON "audit_log" USING btree ("key_id","id");--> statement-breakpoint
CREATE INDEX "audit_log_tenant_idx" ON "audit_log" USING btree ("tenant","id");--> statement-breakpoint
CREATE INDEX "tasks_tenant_seq_idx" ON "tasks" USING btree ("tenant","seq");--> statement-breakpoint
CREATE INDEX "workflows_tenant_seq_idx" ON "workflows" USING btree ("tenant","seq");