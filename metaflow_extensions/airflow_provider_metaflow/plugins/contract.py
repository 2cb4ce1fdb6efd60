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
from dataclasses import asdict, dataclass, field

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


@dataclass(frozen=True)
class TaskResult:
    """What a finished Metaflow task decided, as its step process saw it.

    next_steps: the steps it chose to run next (after a switch, only the branch taken).
    foreach_num_splits: for a foreach step, how many splits it made.
    refusal: set when the step refused its input before any user code ran (a value that is
        not one of the flow's Parameters, a DAG wired unlike the flow's graph): what was wrong
        and what to do. Retrying cannot help.
    """

    pathspec: str
    attempt: int
    task_ok: bool
    next_steps: list[str] = field(default_factory=list)
    foreach_num_splits: int | None = None
    refusal: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TaskResult:
        data = json.loads(text)
        return cls(
            pathspec=str(data["pathspec"]),
            attempt=int(data["attempt"]),
            task_ok=bool(data["task_ok"]),
            next_steps=[str(step) for step in data.get("next_steps") or []],
            foreach_num_splits=data.get("foreach_num_splits"),
            refusal=data.get("refusal"),
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
