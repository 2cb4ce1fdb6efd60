"""Deterministic Metaflow ids, so any task can name its parents without asking XCom.

The Metaflow run id comes from (dag_id, Airflow run_id, and the MetaflowTaskGroup if the flow
is one); a task id comes from the map index
path. A retry or a cleared task therefore lands in the same Metaflow task as a new attempt.
The one exception is a recursive step: it runs a number of times known only at run time, so
each iteration's id adds the iteration (`t-2-i0`, `t-2-i1`, ...) and its children take the
last iteration's pathspec from XCom.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from metaflow_extensions.airflow_provider_metaflow.plugins.contract import PARAMETERS_STEP, PARAMETERS_TASK_ID

RUN_ID_PREFIX = "airflow-"
# Never a bare integer: Metaflow's metadata providers assume integer ids were registered by
# themselves and skip registering them, which hides the task from the client.
TASK_ID_PREFIX = "t"
ITERATION_PREFIX = "i"
# Linux refuses a single argv string over 128 KiB; stay well below it.
MAX_INLINE_INPUT_PATHS = 64 * 1024


def metaflow_run_id(dag_id: str, airflow_run_id: str, flow_group: str | None = None) -> str:
    """Metaflow forbids ':', ',', '!' and '/' in ids, and Airflow run ids contain ':' and '+'.
    Each MetaflowTaskGroup of a DAG run (`flow_group`, its group id) is a run of its own."""
    key = f"{dag_id}\0{airflow_run_id}" if flow_group is None else f"{dag_id}\0{airflow_run_id}\0{flow_group}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return RUN_ID_PREFIX + digest[:20]


def metaflow_task_id(index_path: Sequence[int] = (), iteration: int | None = None) -> str:
    """'t' outside any foreach, 't-3' for split 3, 't-1-2' for split 2 of split 1; a recursive
    step's iteration k appends 'i<k>' ('t-i0', 't-3-i2')."""
    parts = [TASK_ID_PREFIX, *(str(index) for index in index_path)]
    if iteration is not None:
        parts.append(f"{ITERATION_PREFIX}{iteration}")
    return "-".join(parts)


def iteration_task_id_prefix(index_path: Sequence[int] = ()) -> str:
    """What every iteration's task id starts with: iteration k is this prefix plus k."""
    return metaflow_task_id(index_path, iteration=0)[:-1]


def task_index_path_of(task_id: str) -> tuple[int, ...]:
    """The foreach index path a task id was made from (its iteration, if any, left out)."""
    return tuple(int(part) for part in task_id.split("-")[1:] if part.isdigit())


def task_pathspec(run_id: str, step: str, index_path: Sequence[int] = ()) -> str:
    return f"{run_id}/{step}/{metaflow_task_id(index_path)}"


def parameters_pathspec(run_id: str) -> str:
    return f"{run_id}/{PARAMETERS_STEP}/{PARAMETERS_TASK_ID}"


def compress_input_paths(paths: Sequence[str]) -> str:
    """Metaflow's compressed form: 'RUN/step/:id1,id2' when all paths share one step."""
    if len(paths) < 2:
        return ",".join(paths)
    prefixes = {path.rsplit("/", 1)[0] for path in paths}
    if len(prefixes) != 1:
        return ",".join(paths)
    prefix = prefixes.pop() + "/"
    return prefix + ":" + ",".join(path[len(prefix) :] for path in paths)
