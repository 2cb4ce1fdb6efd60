"""What the Airflow task and its Metaflow step process tell each other, and nothing else.

The Airflow side never imports Metaflow to run a local step. It starts the step with
Metaflow's own `step` command plus this provider's internal step decorator (`--with
airflow_provider_internal`), and passes what the decorator needs through the environment
variables below. The decorator, inside the step process, stores the run's Parameters once
(Metaflow's own `init`), turns a kill signal into a recorded failure, saves the step's output
as Metaflow task logs, and writes a `TaskResult` file at the end of the task. The Airflow side
reads that file and passes the facts on through XCom.

Both sides import this module, so it imports neither Airflow nor Metaflow. It lives in the
Metaflow extension because Metaflow packages extensions with a flow's code: a pod that runs a
step from a code package has it without this provider installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

INTERNAL_DECORATOR = "airflow_provider_internal"
# The worker-side child process that reads and writes a run's datastore for the Airflow side.
PROBE_MODULE = "metaflow_extensions.airflow_provider_metaflow.plugins.probe"
# Where Metaflow's `init` stores a run's Parameters: RUN/_parameters/params.
PARAMETERS_STEP = "_parameters"
PARAMETERS_TASK_ID = "params"

# Where the decorator writes the TaskResult JSON when the task finishes (local processes only).
ENV_RESULT_FILE = "METAFLOW_AIRFLOW_RESULT_FILE"
# For the start step only: a RunParameters JSON file. The step process checks the names against
# the flow's Parameters and runs Metaflow's `init` with them, once per run.
ENV_RUN_PARAMETERS_FILE = "METAFLOW_AIRFLOW_RUN_PARAMETERS_FILE"
# For the start step only: a DagWiring JSON file (the `wiring` module), the DAG's step tasks of this
# flow instance. The step process checks them against the flow's graph before anything else runs.
ENV_DAG_WIRING_FILE = "METAFLOW_AIRFLOW_DAG_WIRING_FILE"
# Files that receive the step's stdout and stderr; saved as the task's Metaflow logs.
ENV_STDOUT_FILE = "METAFLOW_AIRFLOW_STDOUT_FILE"
ENV_STDERR_FILE = "METAFLOW_AIRFLOW_STDERR_FILE"
# The Metaflow task (Flow/run/step/task) and attempt this process runs, for its logs.
ENV_PATHSPEC = "METAFLOW_AIRFLOW_PATHSPEC"
ENV_ATTEMPT = "METAFLOW_AIRFLOW_ATTEMPT"
# The Airflow task instance, registered as Metaflow task metadata for debugging.
ENV_AIRFLOW_TASK = "METAFLOW_AIRFLOW_TASK_INSTANCE"
# Set in a pod: with local metadata, the task copies its metadata into the datastore at the end,
# and the worker copies it from there into its own metadata store (Metaflow's own bridge).
ENV_SYNC_METADATA = "METAFLOW_AIRFLOW_SYNC_METADATA"
# Set when the operator pushes artifacts to XCom (`xcom_artifacts=`): an XComArtifacts JSON. The
# step process reports their values, or why they cannot go to XCom, in its TaskResult.
ENV_XCOM_ARTIFACTS = "METAFLOW_AIRFLOW_XCOM_ARTIFACTS"
# Set when the step process clones its task from a resume's origin run (`step --clone-only`):
# Metaflow runs no decorator hook for a clone, so the decorator reports the clone at exit.
ENV_CLONE = "METAFLOW_AIRFLOW_CLONE"
# The DAG run conf key of a resume (`python flow.py airflow resume`): a ResumeRequest.
RESUME_CONF_KEY = "__metaflow_resume__"


@dataclass(frozen=True)
class TaskResult:
    """What a finished Metaflow task decided, as its step process saw it.

    next_steps: the steps it chose to run next (after a switch, only the branch taken).
    foreach_num_splits: for a foreach step, how many splits it made.
    refusal: set when the step refused its input before any user code ran (a value that is
        not one of the flow's Parameters, a DAG wired unlike the flow's graph): what was wrong
        and what to do. Retrying cannot help.
    xcom_values: the artifacts asked for with XComArtifacts that can go to XCom, by name.
    xcom_problems: the artifacts asked for that cannot: name -> why (see xcom_value_problem).
    """

    pathspec: str
    attempt: int
    task_ok: bool
    next_steps: list[str] = field(default_factory=list)
    foreach_num_splits: int | None = None
    refusal: str | None = None
    xcom_values: dict[str, Any] = field(default_factory=dict)
    xcom_problems: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TaskResult:
        """Tolerant of files written before a field existed: a missing field is its default."""
        data = json.loads(text)
        return cls(
            pathspec=str(data["pathspec"]),
            attempt=int(data["attempt"]),
            task_ok=bool(data["task_ok"]),
            next_steps=[str(step) for step in data.get("next_steps") or []],
            foreach_num_splits=data.get("foreach_num_splits"),
            refusal=data.get("refusal"),
            xcom_values=dict(data.get("xcom_values") or {}),
            xcom_problems={str(name): str(why) for name, why in (data.get("xcom_problems") or {}).items()},
        )


@dataclass(frozen=True)
class RunParameters:
    """What the start task's process needs to store the run's Parameters with Metaflow's `init`.

    values: Parameter name -> the text Metaflow's command line reads. The names come from the
    DAG run (its params and conf) and are checked against the flow's own Parameters before any
    of them reaches Metaflow's command line.
    """

    run_id: str
    task_id: str
    tags: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunParameters:
        data = json.loads(text)
        return cls(
            run_id=str(data["run_id"]),
            task_id=str(data["task_id"]),
            tags=[str(tag) for tag in data.get("tags") or []],
            values={str(name): str(value) for name, value in (data.get("values") or {}).items()},
        )


@dataclass(frozen=True)
class ResumeRequest:
    """A DAG run that resumes a Metaflow run: every task of a step not in steps_to_rerun whose
    task in the origin run succeeded is cloned from it, not run (Metaflow's `resume`)."""

    origin_run_id: str
    steps_to_rerun: list[str] = field(default_factory=list)  # the step named and all after it

    def to_conf(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_conf(cls, value: Any) -> ResumeRequest:
        if not (isinstance(value, dict) and isinstance(value.get("origin_run_id"), str)):
            raise ValueError(f"{RESUME_CONF_KEY} must be {{'origin_run_id': RUN, 'steps_to_rerun': [...]}}")
        steps = value.get("steps_to_rerun") or []
        if not (isinstance(steps, list) and all(isinstance(step, str) for step in steps)):
            raise ValueError(f"{RESUME_CONF_KEY}.steps_to_rerun must be a list of step names")
        return cls(value["origin_run_id"], list(steps))


@dataclass(frozen=True)
class XComArtifacts:
    """The artifacts a step's Airflow task pushes to XCom, and the bound on each value's JSON text
    (Airflow keeps XCom in its metadata database, as JSON)."""

    names: list[str]
    max_bytes: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> XComArtifacts:
        data = json.loads(text)
        return cls(names=[str(name) for name in data["names"]], max_bytes=int(data["max_bytes"]))

    def collect(self, read: Callable[[str], Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """(values that can go to XCom, name -> why for those that cannot), for every name.

        read(name) returns the task's artifact and raises KeyError when it has none of that name.
        Both sides of a step (its own process, the worker's probe for a pod) collect through
        this, so the rule is the same wherever the step ran.
        """
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for name in self.names:
            try:
                value = read(name)
            except KeyError:
                problems[name] = "the task has no artifact of that name"
                continue
            except Exception as error:  # noqa: BLE001 - say why it cannot be read; the run is fine
                problems[name] = f"it cannot be loaded here ({type(error).__name__}: {error})"
                continue
            problem = xcom_value_problem(value, self.max_bytes)
            if problem is None:
                values[name] = value
            else:
                problems[name] = problem
        return values, problems


def xcom_value_problem(value: Any, max_bytes: int) -> str | None:
    """Why `value` cannot be an XCom value, or None when it can.

    It must be JSON that reads back as the same value (no NaN or infinity, no tuples, sets or
    non-string keys, which JSON drops or changes) and its JSON text at most `max_bytes` long.
    """
    unsupported: list[Any] = []

    def refuse(obj: Any) -> Any:
        unsupported.append(obj)
        raise TypeError("not JSON")

    try:
        text = json.dumps(value, allow_nan=False, default=refuse)
    except (TypeError, ValueError, RecursionError) as error:
        if unsupported and unsupported[0] is value:
            return f"it is a {_type_name(value)}, which is not a JSON type"
        if unsupported:
            inner = _type_name(unsupported[0])
            return f"it is a {_type_name(value)} holding a {inner}, which is not a JSON type"
        return f"it is a {_type_name(value)} that is not JSON ({error})"
    if json.loads(text) != value:
        return (
            f"it is a {_type_name(value)} that JSON would change (a tuple reads back as a list, a "
            "non-string key as a string)"
        )
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        return f"its JSON text is {size} bytes, over the bound of {max_bytes} bytes"
    return None


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
