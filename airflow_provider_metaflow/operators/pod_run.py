"""One try of a Metaflow step as a pod: the pod's command before it starts, the task's outcome after.

Imported only when a pod step runs. The step's ids, attempt and inputs come from StepTaskRun,
as for a local step. Metaflow's configuration (where the datastore is) and the finished task's
record are read by a probe process (runtime.probe) on the worker, with the worker's Metaflow
config and the connection's: the task process itself never imports Metaflow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_metaflow.operators.task_run import StepTaskRun, flow_identity, run_step_inputs
from airflow_provider_metaflow.runtime import probe
from airflow_provider_metaflow.runtime.ids import metaflow_task_id
from airflow_provider_metaflow.version_compat import AirflowException, check_map_length
from metaflow_extensions.airflow_provider_metaflow.plugins import contract

if TYPE_CHECKING:
    from airflow_provider_metaflow.operators.kubernetes import MetaflowKubernetesOperator

BOOTSTRAP = Path(__file__).resolve().parent.parent / "backends" / "pod_bootstrap.py"


class PodStep:
    """The Metaflow side of one MetaflowKubernetesOperator try."""

    def __init__(self, operator: MetaflowKubernetesOperator, context: Any) -> None:
        self.operator = operator
        self.task_run = StepTaskRun(operator, context, need_flow_file=False)
        self.task_id = metaflow_task_id(self.task_run.index_path)

    def prepare(self) -> None:
        """Set the pod's command and environment for this try (skips the task when a switch
        upstream did not choose it, before any pod is created)."""
        from kubernetes.client import models as k8s

        run, op = self.task_run, self.operator
        package = op.flow.code_package
        if package is None:
            raise AirflowException(
                f"Step {op.step!r} runs as a pod, but MetaflowFlow({op.flow.name!r}) names no code "
                "package. Regenerate the DAG with `python flow.py airflow create`, which uploads one."
            )
        paths, attempt, split_index = run_step_inputs(run)
        launch = run.launch(
            self.task_id,
            attempt,
            paths,
            split_index,
            python=op.pod_plan.executable,
            flow_file=os.path.basename(run.flow_file),
            files_dir=".",
        )
        settings = self._ask({"settings": True})["settings"]
        env = {**settings, **flow_identity(op.flow), **op.env, **launch.env, contract.ENV_SYNC_METADATA: "1"}
        op.env_vars = [*(op.env_vars or []), *(k8s.V1EnvVar(name=k, value=v) for k, v in env.items())]
        spec = {"flow": op.flow.name, "package": package, "argv": launch.argv, "files": launch.files}
        op.arguments = ["-c", BOOTSTRAP.read_text(encoding="utf-8"), json.dumps(spec)]
        run.log.info("Metaflow task %s, attempt %d, as a pod", run.pathspec(self.task_id), attempt.attempt)

    def finish(self) -> list[int] | None:
        """After the pod succeeded: read what the Metaflow task decided, and pass it on."""
        op, run = self.operator, self.task_run
        (record,) = self._ask({"tasks": [[op.step, self.task_id]], "sync_metadata": True})["tasks"]
        pathspec = run.pathspec(self.task_id)
        if not (record["done"] and record["ok"]):
            raise AirflowException(
                f"The pod of Metaflow task {pathspec} ended, but the task did not succeed "
                f"(attempt {record['attempt']}); its output is above and in Task('{pathspec}').stderr."
            )
        result = contract.TaskResult(
            pathspec=pathspec,
            attempt=int(record["attempt"]),
            task_ok=True,
            next_steps=list(record["next_steps"]),
            foreach_num_splits=record["foreach_num_splits"],
        )
        run.publish(result)
        if result.foreach_num_splits is None:
            return None
        check_map_length(op.step, result.foreach_num_splits)
        return list(range(result.foreach_num_splits))

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        run = self.task_run
        return probe.ask(
            {"flow": run.flow.name, "run_id": run.run_id, **request},
            python=run.flow.interpreter(),
            env=run.worker_environment(),
            cwd=run.flow_dir if os.path.isdir(run.flow_dir) else os.getcwd(),
        )
