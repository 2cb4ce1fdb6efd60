"""`airflow create` with no FILE: where a deployment's DAGs folder gets the DAG file and the flow
file it names, and how the deployment is made to list the DAG at once rather than at its next
folder scan."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airflow_provider_metaflow.compiler.create import write_atomically
from airflow_provider_metaflow.remote.api import AirflowApi, AirflowApiFailed, DagDetails

FLOWS_FOLDER = "metaflow_flows"  # under the DAGs folder: the flow files deployed DAGs run
# The dag-processor never parses what is under FLOWS_FOLDER: flow files are not DAG files.
AIRFLOWIGNORE = ".*\n"
REGISTER_TIMEOUT_SECONDS = 330.0  # a remote deployment's default folder scan is every 300 s


@dataclass(frozen=True)
class DeployedFiles:
    dag_file: Path
    flow_file: Path  # where the DAG file finds the flow: a copy, unless it is in the folder already


def deployed_files(dags_folder: str, dag_id: str, flow_file: str) -> DeployedFiles:
    """`<folder>/<dag>_dag.py`, and the flow file where it is if it is under the folder, else a copy
    at `<folder>/metaflow_flows/<dag>/<flow file name>`."""
    folder = Path(dags_folder).expanduser().absolute()
    safe = re.sub(r"[^A-Za-z0-9_]", "_", dag_id)
    source = Path(flow_file).absolute()
    if source.is_relative_to(folder) and FLOWS_FOLDER not in source.relative_to(folder).parts:
        return DeployedFiles(folder / f"{safe}_dag.py", source)
    return DeployedFiles(folder / f"{safe}_dag.py", folder / FLOWS_FOLDER / safe / source.name)


def copy_flow_file(source: str, files: DeployedFiles) -> None:
    """Put the flow file where the DAG names it, atomically, and keep the dag-processor out of
    the flows folder."""
    if Path(source).absolute() == files.flow_file:
        return
    ignore = files.flow_file.parent.parent / ".airflowignore"
    if files.flow_file.parent.parent.name == FLOWS_FOLDER and not ignore.exists():
        write_atomically(str(ignore), AIRFLOWIGNORE)
    write_atomically(str(files.flow_file), Path(source).read_text(encoding="utf-8"))


def remove_flow_copy(dag_file: str) -> None:
    """After `delete`: the flow copy `create` made for this DAG file, if any."""
    safe = Path(dag_file).name.removesuffix("_dag.py")
    shutil.rmtree(Path(dag_file).parent / FLOWS_FOLDER / safe, ignore_errors=True)


def register(
    api: AirflowApi,
    dag_id: str,
    dag_file: Path,
    before: DagDetails | None,
    paused: bool,
    reserialize: Callable[[], None] | None,
    timeout: float = REGISTER_TIMEOUT_SECONDS,
    echo: Callable[[str], None] = print,
) -> DagDetails:
    """Have the deployment parse the new DAG file now and wait until it lists this version:
    a DAG it knew already is re-parsed through the API (its file token), a new one by
    `reserialize` (a deployment on this machine), else at the dag-processor's next scan. A new
    DAG is then unpaused unless `paused`. Raises AirflowApiFailed with Airflow's import error."""
    if before is not None and before.file_token:
        api.reparse(before.file_token)
    elif reserialize is not None:
        reserialize()
    else:
        echo(f"Waiting for Airflow to scan its DAGs folder (up to {timeout:.0f} s) for {dag_file.name}.")
    deadline = time.monotonic() + timeout
    while True:
        details = api.dag_details(dag_id)
        if details is not None and (before is None or details.last_parsed_time != before.last_parsed_time):
            break
        trace = api.import_error(str(dag_file))
        if trace is not None:
            raise AirflowApiFailed(f"Airflow cannot import {dag_file}:\n{trace}")
        if time.monotonic() > deadline:
            raise AirflowApiFailed(
                f"Airflow at {api.deployment.api_url} did not list DAG {dag_id!r} from {dag_file} within "
                f"{timeout:.0f} s. Is {dag_file.parent} its DAGs folder (METAFLOW_AIRFLOW_DAGS_FOLDER)?"
            )
        time.sleep(1.0)
    if before is None and details.is_paused and not paused:
        api.set_paused(dag_id, False)
    return details
