-- A node's running list (up to a few thousand task ids, rewritten by every heartbeat) is stored
-- out of line without trying to compress it: pglz left 1,000 random ids as they were (40,004
-- bytes stored for 40,000) and spent ~1 ms per heartbeat finding that out (docs/decisions.md
-- "Cheaper rows"). Existing values keep their form until their next heartbeat rewrites them.
ALTER TABLE "nodes" ALTER COLUMN "running_task_ids" SET STORAGE EXTERNAL;
