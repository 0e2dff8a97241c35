"""The FastAPI reference app of the parity test (test/fastapi-diff.e2e.test.ts, issue #12).

Every route of api.md with the request models of models.py. Handlers hold no real state: an
unknown id is a 404, a valid request gets a canned answer with the status api.md gives. What is
compared with Jarvis is what FastAPI and Pydantic do around the handlers: validation (422 items),
routing (404, 405 + Allow, HEAD, trailing slashes), status codes and unreadable bodies.

Run: .jarvis/pyref/bin/uvicorn --app-dir test/reference app:app --port PORT
"""
from __future__ import annotations

from datetime import datetime, timezone
from uuid import UUID, uuid4

from fastapi import FastAPI, HTTPException, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse

from models import (
    Heartbeat,
    KeyCreate,
    NodeRegister,
    SecretCreate,
    TaskBatchCreate,
    TaskCreate,
    TaskStatus,
    WorkflowCreate,
    WorkflowStatus,
)

app = FastAPI(title="Jarvis reference (FastAPI)")

Limit = Query(50, ge=1, le=500)
Offset = Query(0, ge=0)


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def page() -> dict:
    return {"items": [], "total": 0, "limit": 50, "offset": 0}


# ---------------------------------------------------------------------------------------------
# Tasks

_idempotency: set[str] = set()


@app.post("/tasks", status_code=201)
def create_task(body: TaskCreate, response: Response):
    if body.idempotency_key is not None:
        if body.idempotency_key in _idempotency:
            response.status_code = 200
        _idempotency.add(body.idempotency_key)
    return {"id": str(uuid4()), "status": "queued"}


@app.post("/tasks/batch", status_code=201)
def create_batch(body: TaskBatchCreate):
    return {"items": [{"id": str(uuid4())} for _ in body.tasks]}


@app.get("/tasks")
def list_tasks(
    status: TaskStatus | None = None,
    workflow_id: UUID | None = None,
    node_id: UUID | None = None,
    label: str | None = Query(None, pattern=r"^[^:]+:.*$"),
    tenant: str | None = None,
    limit: int = Limit,
    offset: int = Offset,
):
    return page()


def task_not_found():
    raise HTTPException(404, "Task not found")


@app.get("/tasks/{id}")
def get_task(id: UUID):
    task_not_found()


@app.get("/tasks/{id}/events")
def task_events(id: UUID):
    task_not_found()


@app.get("/tasks/{id}/logs")
def task_logs(id: UUID, follow: bool = False):
    task_not_found()


@app.post("/tasks/{id}/cancel")
def cancel_task(id: UUID):
    task_not_found()


@app.post("/tasks/{id}/retry")
def retry_task(id: UUID):
    task_not_found()


# ---------------------------------------------------------------------------------------------
# Workflows


@app.post("/workflows", status_code=201)
def create_workflow(body: WorkflowCreate):
    check_graph(body)
    return {"id": str(uuid4()), "status": "running"}


def check_graph(body: WorkflowCreate) -> None:
    """Duplicate keys, unknown dependencies and cycles, each pointing at its place."""
    errors: list[dict] = []

    def item(loc: list, msg: str, value) -> dict:
        return {"type": "value_error", "loc": ["body", "tasks", *loc], "msg": f"Value error, {msg}", "input": value}

    index: dict[str, int] = {}
    for i, t in enumerate(body.tasks):
        if t.key in index:
            errors.append(item([i, "key"], f'duplicate key "{t.key}" (also tasks[{index[t.key]}])', t.key))
        else:
            index[t.key] = i
    for i, t in enumerate(body.tasks):
        for j, dep in enumerate(t.depends_on):
            if dep not in index:
                errors.append(item([i, "depends_on", j], f'unknown dependency "{dep}": no task in this workflow has that key', dep))
    if not errors:
        cycle = find_cycle(body)
        if cycle:
            at, dep, path = cycle
            errors.append(item([at, "depends_on", dep], "cycle: " + " -> ".join(path), path[-1]))
    if errors:
        raise RequestValidationError(errors)


def find_cycle(body: WorkflowCreate):
    index = {t.key: i for i, t in enumerate(body.tasks)}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(key: str):
        state[key] = 1
        stack.append(key)
        task = body.tasks[index[key]]
        for j, dep in enumerate(task.depends_on):
            if state.get(dep) == 1:
                return index[key], j, stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[key] = 2
        return None

    for t in body.tasks:
        if t.key not in state:
            found = visit(t.key)
            if found:
                return found
    return None


@app.get("/workflows")
def list_workflows(status: WorkflowStatus | None = None, limit: int = Limit, offset: int = Offset):
    return page()


def workflow_not_found():
    raise HTTPException(404, "Workflow not found")


@app.get("/workflows/{id}")
def get_workflow(id: UUID):
    workflow_not_found()


@app.post("/workflows/{id}/cancel")
def cancel_workflow(id: UUID):
    workflow_not_found()


@app.post("/workflows/{id}/retry")
def retry_workflow(id: UUID):
    workflow_not_found()


# ---------------------------------------------------------------------------------------------
# Nodes


def node_not_found():
    raise HTTPException(404, "Node not found")


@app.post("/nodes/register", status_code=201)
def register_node(body: NodeRegister):
    return {"id": str(uuid4()), "name": body.name, "token": "t"}


@app.post("/nodes/{id}/heartbeat")
def heartbeat(id: UUID, body: Heartbeat):
    node_not_found()


@app.get("/nodes")
def list_nodes():
    return []


@app.get("/nodes/{id}")
def get_node(id: UUID):
    node_not_found()


@app.post("/nodes/{id}/drain")
def drain_node(id: UUID):
    node_not_found()


@app.post("/nodes/{id}/resume")
def resume_node(id: UUID):
    node_not_found()


@app.delete("/nodes/{id}")
def delete_node(id: UUID):
    node_not_found()


# ---------------------------------------------------------------------------------------------
# Operations


@app.get("/health")
def health():
    return {"status": "ok", "checks": {"redis": "ok", "database": "ok"}}


@app.get("/metrics", response_class=PlainTextResponse)
def metrics():
    return "# reference\n"


# ---------------------------------------------------------------------------------------------
# Security


@app.post("/auth/keys", status_code=201)
def create_key(body: KeyCreate):
    return {"id": str(uuid4()), "name": body.name, "role": body.role, "tenant": body.tenant, "key": "k", "created_at": now()}


@app.get("/auth/keys")
def list_keys():
    return {"items": []}


@app.delete("/auth/keys/{id}", status_code=204)
def delete_key(id: UUID):
    raise HTTPException(404, "Key not found")


@app.get("/audit")
def audit(
    action: str | None = None,
    key_id: UUID | None = None,
    tenant: str | None = None,
    since: datetime | None = None,
    limit: int = Limit,
    offset: int = Offset,
):
    return page()


@app.post("/secrets", status_code=201)
def create_secret(body: SecretCreate):
    return {"name": body.name, "tenant": "default", "created_at": now()}


@app.get("/secrets")
def list_secrets():
    return {"items": []}


@app.delete("/secrets/{name}", status_code=204)
def delete_secret(name: str):
    raise HTTPException(404, "Secret not found")
