ALTER TABLE "nodes" ADD COLUMN "drained" boolean DEFAULT false NOT NULL;--> statement-breakpoint
UPDATE "nodes" SET "drained" = true WHERE "status" = 'draining';
