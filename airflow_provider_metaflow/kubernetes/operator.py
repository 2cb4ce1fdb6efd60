"""MetaflowKubernetesOperator: a Metaflow step as a Kubernetes pod, through the real
KubernetesPodOperator.

It is a KubernetesPodOperator, so its features keep working: deferrable mode (the worker slot
is free while the pod runs), reattaching to a running pod on retry, the Kubernetes connection,
in-cluster or kubeconfig, pod templates. It takes the arguments every Metaflow step operator
takes (MetaflowStepBase), plus the step's pod (a PodPlan, resolved from @kubernetes at
`create`). The engine runs it like any step; its backend (backend.py) sets the pod's command
and reads the task's result after the pod ends.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from airflow_provider_metaflow.kubernetes.pod_spec import pod_operator_kwargs
from airflow_provider_metaflow.operators.base import MetaflowStepBase
from airflow_provider_metaflow.pod_plan import PodPlan

KUBERNETES_BACKEND = "kubernetes"


class MetaflowKubernetesOperator(MetaflowStepBase, KubernetesPodOperator):
    """Run one Metaflow step of one run as a Kubernetes pod.

    Takes MetaflowStepBase's arguments (flow, step, inputs, foreach, join_of, split_index,
    index_path, conditional, env, environment, error_retries, decospecs, metaflow_conn_id,
    xcom_artifacts, xcom_artifact_max_bytes), plus:

    :param pod: the step's pod, a PodPlan or its dict form (as `airflow create` writes it).

    Any KubernetesPodOperator argument (kubernetes_conn_id, config_file, in_cluster, deferrable,
    pod_template_file, ...) may be given too and wins over the plan. Returns the split list for a
    foreach step, and pushes the task's pathspec and next steps like every Metaflow operator.
    Parameter values, Config values, the production token and ``env`` never enter the pod spec
    (which KubernetesPodOperator logs when a pod fails): the pod reads them from the datastore.
    """

    # Only our own extra environment is templated: the pod's fields come from the flow's
    # decorators and hold data (labels, annotations, env values), never Jinja.
    template_fields: Sequence[str] = ("env",)
    ui_color = "#dcecf9"

    def __init__(self, *, pod: PodPlan | Mapping[str, Any], **kwargs: Any) -> None:
        plan = pod if isinstance(pod, PodPlan) else PodPlan.from_dict(dict(pod))
        defaults: dict[str, Any] = {"get_logs": True, "on_finish_action": "delete_pod"}
        if plan.execution_timeout_seconds is not None:
            defaults["execution_timeout"] = datetime.timedelta(seconds=plan.execution_timeout_seconds)
        super().__init__(
            cmds=[plan.executable], arguments=[], **{**pod_operator_kwargs(plan), **defaults, **kwargs}
        )
        self.pod_plan = plan

    def _backend_name(self, given: str) -> str:
        return KUBERNETES_BACKEND

    def trigger_reentry(self, context: Any, event: dict[str, Any]) -> Any:
        """After a deferred pod ended: KubernetesPodOperator's checks, then the task's result."""
        from airflow_provider_metaflow.execution.step_try import StepTry, checked
        from airflow_provider_metaflow.kubernetes.backend import PodStepBackend
        from airflow_provider_metaflow.runtime.ids import metaflow_task_id

        self.do_xcom_push = False  # to KubernetesPodOperator: no XCom sidecar in the pod
        super().trigger_reentry(context, event)
        self.do_xcom_push = True
        step_try = StepTry(self, context)
        try:
            backend = step_try.backend
            assert isinstance(backend, PodStepBackend)
            result = backend.result(step_try.pathspec(metaflow_task_id(step_try.index_path)))
            return self._return_value(step_try.finish(checked(result, step_try.xcom_artifacts)))
        finally:
            step_try.close()
