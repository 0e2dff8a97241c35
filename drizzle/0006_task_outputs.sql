ALTER TABLE "tasks" ADD COLUMN "output_spec" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "outputs" jsonb;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "result" text;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "templates" jsonb;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "when_condition" text;