-- Every new task gets its first history event in the same statement that inserts it, so
-- accepting a task is one INSERT (no transaction round trips) and no path can forget the event.
CREATE FUNCTION jarvis_task_created() RETURNS trigger AS $$
BEGIN
  INSERT INTO task_events (task_id, at, status, node_id, attempt, reason)
  VALUES (NEW.id, NEW.created_at, NEW.status, NEW.node_id, NEW.attempts, NEW.status_reason);
  RETURN NEW;
END
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER tasks_created_event AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION jarvis_task_created();
