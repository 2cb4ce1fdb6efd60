"""PodStepBackend: the StepBackend that runs a Metaflow task as its operator's pod.

Before the pod starts, a probe process on the worker (the extension's probe, with the worker's
Metaflow config) stores what must not appear in the pod spec (the Parameters file, Config
values, the production token, the DAG's `env`) in the flow's datastore, and answers with the
pod's arguments: a small bootstrap program that fetches the code package and those values and
runs the step with Metaflow's own command line. After the pod ends, the probe reads the task's
outcome (its foreach width, a switch's choice, the artifacts it pushes to XCom) from the
datastore and, with local metadata, copies the metadata the pod saved there into the worker's
metadata store. The task process itself never imports Metaflow, and the pod has no XCom sidecar.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from airflow_provider_metaflow.backends.base import (
    LineSink,
    StepFailed,
    StepHost,
    StepLaunch,
    StepStopped,
    TrySite,
)
from airflow_provider_metaflow.runtime import probe
from airflow_provider_metaflow.version_compat import AirflowException
from metaflow_extensions.airflow_provider_metaflow.plugins import contract


class PodStepBackend:
    """Runs StepLaunches as the pod of the site's MetaflowKubernetesOperator."""

    def __init__(self, site: TrySite) -> None:
        self._site = site
        self._operator: Any = site.operator
        # Inside the pod the step runs from the unpacked code package, in the working directory.
        self.host = StepHost(self._operator.pod_plan.executable, os.path.basename(site.flow_file), ".")
        self._killed = False

    def run(self, launch: StepLaunch, sink: LineSink) -> contract.TaskResult:
        """Start the pod and wait for it (KubernetesPodOperator streams its log); in deferrable
        mode this raises TaskDeferred and the operator's trigger_reentry reads the result."""
        self._prepare_pod(launch)
        if self._killed:  # told to stop before the pod was created
            raise StepStopped(f"Metaflow task {launch.pathspec} was stopped before its pod started.")
        operator = self._operator
        operator.do_xcom_push = False  # to KubernetesPodOperator: no XCom sidecar in the pod
        KubernetesPodOperator.execute(operator, self._site.context)
        operator.do_xcom_push = True
        return self.result(launch.pathspec)

    def _prepare_pod(self, launch: StepLaunch) -> None:
        from kubernetes.client import models as k8s

        operator, flow = self._operator, self._site.flow
        if flow.code_package is None:
            raise AirflowException(
                f"Step {operator.step!r} runs as a pod, but MetaflowFlow({flow.name!r}) names no code "
                "package. Regenerate the DAG with `python flow.py airflow create`, which uploads one."
            )
        answer = self._ask(
            {
                "pod_launch": {
                    "package": flow.code_package,
                    "argv": list(launch.argv),
                    "files": dict(launch.files),
                    "secret_env": dict(launch.secret_env),
                }
            }
        )["pod_launch"]
        env = {**answer["settings"], **launch.env, contract.ENV_SYNC_METADATA: "1"}
        operator.env_vars = [
            *(operator.env_vars or []),
            *(k8s.V1EnvVar(name=name, value=value) for name, value in env.items()),
        ]
        operator.arguments = list(answer["arguments"])
        self._site.log.info("Metaflow task %s, attempt %d, as a pod", launch.pathspec, launch.attempt)

    def result(self, pathspec: str) -> contract.TaskResult:
        """After the pod ended: what the Metaflow task decided, from the datastore."""
        _flow, _run, step, task_id = pathspec.split("/")
        request: dict[str, Any] = {"tasks": [[step, task_id]], "sync_metadata": True}
        if self._site.xcom_artifacts is not None:
            request["xcom_artifacts"] = dataclasses.asdict(self._site.xcom_artifacts)
        (record,) = self._ask(request)["tasks"]
        if not (record["done"] and record["ok"]):
            raise StepFailed(
                f"The pod of Metaflow task {pathspec} ended, but the task did not succeed "
                f"(attempt {record['attempt']}); its output is above and in Task('{pathspec}').stderr."
            )
        return contract.TaskResult(
            pathspec=pathspec,
            attempt=int(record["attempt"]),
            task_ok=True,
            next_steps=list(record["next_steps"]),
            foreach_num_splits=record["foreach_num_splits"],
            xcom_values=record.get("xcom_values", {}),
            xcom_problems=record.get("xcom_problems", {}),
        )

    def kill(self) -> None:
        """KubernetesPodOperator deletes the pod itself when the task is killed (its on_kill)."""
        self._killed = True
        KubernetesPodOperator.on_kill(self._operator)

    def close(self) -> None:
        pass

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        site = self._site
        return probe.ask(
            {"flow": site.flow.name, "run_id": site.run_id, **request},
            python=site.flow.interpreter(),
            env=site.worker_environment(),
            cwd=site.flow_dir if os.path.isdir(site.flow_dir) else os.getcwd(),
        )
