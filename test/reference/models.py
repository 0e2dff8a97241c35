"""Request models of the Jarvis HTTP API, written from /work/shared/design/api.md field by field
as a FastAPI + Pydantic v2 developer would, with no look at how Jarvis does it.

Where api.md states a rule (a bound, an enum, a pattern) it is here; where it states none, there
is none: a difference that comes from a limit api.md does not state is a finding, not a bug of
this file. Messages of the few custom checks (quantities, workflow graph) are the only text not
in api.md; they copy Jarvis's wording so the comparison looks at type and loc, not prose.
"""
from __future__ import annotations

import re
from enum import Enum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# ---------------------------------------------------------------------------------------------
# Enums (api.md lists the values; Enum classes give pydantic's `enum` error type)


class Priority(str, Enum):
    critical = "critical"
    high = "high"
    normal = "normal"
    low = "low"


class Network(str, Enum):
    none = "none"
    bridge = "bridge"
    host = "host"


class TaskStatus(str, Enum):
    pending = "pending"
    queued = "queued"
    scheduled = "scheduled"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    timed_out = "timed_out"
    cancelled = "cancelled"
    skipped = "skipped"


class WorkflowStatus(str, Enum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class OnFailure(str, Enum):
    skip_downstream = "skip_downstream"
    continue_ = "continue"


class Role(str, Enum):
    admin = "admin"
    operator = "operator"
    submitter = "submitter"
    viewer = "viewer"


class Strict(BaseModel):
    """Unknown fields are rejected (422 extra_forbidden)."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------
# Quantities ("500m" cores, "512Mi" memory)

CPU_MSG = 'cpu must be a number of cores > 0 or a quantity such as "500m" or "2"'
MEMORY_MSG = 'memory must be a quantity such as "512Mi", "1Gi" or "1G"'


def _cpu_quantity(value: str) -> str:
    m = re.fullmatch(r"(\d+(?:\.\d+)?|\.\d+)(m?)", value.strip())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(CPU_MSG)
    return value


def _memory_quantity(value: str) -> str:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?", value.strip())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(MEMORY_MSG)
    return value


StringMap = dict[str, str]


class SecretRef(Strict):
    """`"env": {"DB_PASSWORD": {"secret": "db"}}` (api.md, Security)."""

    secret: str


class ResourcesIn(Strict):
    cpu: Annotated[float, Field(gt=0)] | Annotated[str, AfterValidator(_cpu_quantity)] = 1
    memory_mb: Annotated[int, Field(gt=0)] | None = None
    memory: Annotated[str, AfterValidator(_memory_quantity)] | None = None
    gpu: Annotated[int, Field(ge=0)] = 0


# ---------------------------------------------------------------------------------------------
# Tasks


class OutputDeclaration(Strict):
    """`"outputs": {"rows": {"path": "/tmp/rows"}}` (docs/workflows.md)."""

    path: str


class TaskFields(Strict):
    image: str
    command: list[str] | str | None = None
    name: Annotated[str, Field(max_length=128)] | None = None
    env: dict[str, str | SecretRef] = {}
    priority: Priority = Priority.normal
    resources: ResourcesIn | None = None
    timeout_seconds: Annotated[int, Field(ge=1)] | None = None
    max_retries: Annotated[int, Field(ge=0, le=20)] = 0
    retry_backoff_seconds: Annotated[float, Field(ge=0)] = 1
    node_selector: StringMap = {}
    labels: StringMap = {}
    idempotency_key: str | None = None
    network: Network | None = None
    outputs: dict[str, OutputDeclaration] = {}


class TaskCreate(TaskFields):
    pass


class TaskBatchCreate(Strict):
    tasks: Annotated[list[TaskCreate], Field(max_length=1000)]


# ---------------------------------------------------------------------------------------------
# Workflows

KEY_PATTERN = r"^[a-zA-Z0-9_.-]{1,64}$"


class WorkflowTaskCreate(TaskFields):
    key: Annotated[str, Field(pattern=KEY_PATTERN)]
    depends_on: list[str] = []
    when: str | None = None


class WorkflowCreate(Strict):
    name: str | None = None
    tasks: Annotated[list[WorkflowTaskCreate], Field(min_length=1)]
    on_failure: OnFailure = OnFailure.skip_downstream
    max_parallel: int | None = None


# ---------------------------------------------------------------------------------------------
# Nodes


class Capacity(Strict):
    cpu: float
    memory_mb: int
    gpu: int
    max_tasks: int


class NodeRegister(Strict):
    name: str
    hostname: str
    capacity: Capacity
    labels: StringMap = {}


class Heartbeat(Strict):
    cpu_percent: float
    memory_used_mb: float
    running_task_ids: list[UUID]


# ---------------------------------------------------------------------------------------------
# Security


class KeyCreate(Strict):
    name: str
    role: Role
    tenant: str
    rate_limit_per_s: float | None = None


class SecretCreate(Strict):
    name: str
    value: str
