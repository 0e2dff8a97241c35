-- A task's history events no longer carry a foreign key to tasks. Every event is written from a
-- task row that exists (the insert's statement trigger, or an UPDATE ... RETURNING of tasks). The
-- only deletes of tasks take back rows whose enqueue failed (POST /tasks, /tasks/batch,
-- /workflows with Redis away); they delete those tasks' events themselves (task-store.ts
-- deleteMany, workflow-store.ts delete). The key cost, for each event, a lookup of the task and
-- a KEY SHARE lock on its row, WAL-logged: ~0.8 of ~4 ms for a 100-task insert
-- (docs/decisions.md, "A task's first event without a key check").
ALTER TABLE "task_events" DROP CONSTRAINT "task_events_task_id_tasks_id_fk";
