"""Deterministic Metaflow ids, so any task can name its parents without asking XCom.

The Metaflow run id comes from (dag_id, Airflow run_id); a task id comes from the map index
path. A retry or a cleared task therefore lands in the same Metaflow task as a new attempt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

RUN_ID_PREFIX = "airflow-"
PARAMETERS_STEP = "_parameters"
PARAMETERS_TASK_ID = "params"
# Never a bare integer: Metaflow's metadata providers assume integer ids were registered by
# themselves and skip registering them, which hides the task from the client.
TASK_ID_PREFIX = "t"
# Linux refuses a single argv string over 128 KiB; stay well below it.
MAX_INLINE_INPUT_PATHS = 64 * 1024


def metaflow_run_id(dag_id: str, airflow_run_id: str) -> str:
    """Metaflow forbids ':', ',', '!' and '/' in ids, and Airflow run ids contain ':' and '+'."""
    digest = hashlib.sha256(f"{dag_id}\0{airflow_run_id}".encode()).hexdigest()
    return RUN_ID_PREFIX + digest[:20]


def metaflow_task_id(index_path: Sequence[int] = ()) -> str:
    """'t' for a task outside any foreach, 't-3' for split 3, 't-1-2' for split 2 of split 1."""
    return "-".join([TASK_ID_PREFIX, *(str(index) for index in index_path)])


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
