"""MetaflowKubernetesOperator: a Metaflow step as a Kubernetes pod, through the real
KubernetesPodOperator.

It is a KubernetesPodOperator, so its features keep working: deferrable mode (the worker slot
is free while the pod runs), reattaching to a running pod on retry, the Kubernetes connection,
in-cluster or kubeconfig, pod templates. It takes the same Metaflow arguments as
MetaflowStepOperator, plus the step's pod (a PodPlan, resolved from @kubernetes at `create`).

What runs in the pod is `python -c <pod_bootstrap>`: it downloads the flow's code package from the
datastore, checks its hash and runs the step with Metaflow's own command line. Nothing runs as a
sidecar: after the pod ends, a probe process on the worker reads the task's outcome (its foreach
width, a switch's choice) from the datastore, and, with local metadata, copies the metadata the
pod saved there into the worker's metadata store.

Imported only by DAGs with pod steps: it imports the Kubernetes provider.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from airflow_provider_metaflow.flow import MetaflowFlow
from airflow_provider_metaflow.links import MetaflowTaskLink
from airflow_provider_metaflow.operators.step import MetaflowStepArguments, step_attributes
from airflow_provider_metaflow.pod_plan import PodPlan

if TYPE_CHECKING:
    from airflow_provider_metaflow.operators.pod_run import PodStep


class MetaflowKubernetesOperator(MetaflowStepArguments, KubernetesPodOperator):
    """Run one Metaflow step of one run as a Kubernetes pod.

    Takes MetaflowStepOperator's arguments (flow, step, inputs, foreach, join_of, split_index,
    index_path, conditional, env, environment, error_retries, decospecs, metaflow_conn_id), plus:

    :param pod: the step's pod, a PodPlan or its dict form (as `airflow create` writes it).

    Any KubernetesPodOperator argument (kubernetes_conn_id, config_file, in_cluster, deferrable,
    pod_template_file, ...) may be given too and wins over the plan. Returns the split list for a
    foreach step, and pushes the task's pathspec and next steps like every Metaflow operator.
    """

    # Only our own extra environment is templated: the pod's fields come from the flow's
    # decorators and hold data (labels, annotations, env values), never Jinja.
    template_fields: Sequence[str] = ("env",)
    operator_extra_links = (MetaflowTaskLink(),)
    ui_color = "#dcecf9"
    _pod_step: PodStep | None = None

    def __init__(
        self,
        *,
        flow: MetaflowFlow,
        step: str,
        pod: PodPlan | Mapping[str, Any],
        inputs: Sequence[str] = (),
        foreach: str | None = None,
        join_of: str | None = None,
        split_index: int | None = None,
        index_path: Sequence[int] | None = None,
        conditional: bool = False,
        env: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | None = None,
        error_retries: int = 0,
        decospecs: Sequence[str] = (),
        metaflow_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_metaflow.backends.pod_spec import pod_operator_kwargs

        plan = pod if isinstance(pod, PodPlan) else PodPlan.from_dict(dict(pod))
        defaults: dict[str, Any] = {"get_logs": True, "on_finish_action": "delete_pod"}
        if plan.execution_timeout_seconds is not None:
            defaults["execution_timeout"] = datetime.timedelta(seconds=plan.execution_timeout_seconds)
        super().__init__(
            cmds=[plan.executable], arguments=[], **{**pod_operator_kwargs(plan), **defaults, **kwargs}
        )
        self.pod_plan = plan
        arguments = step_attributes(
            flow,
            step,
            inputs,
            foreach,
            join_of,
            split_index,
            index_path,
            conditional,
            env,
            environment,
            error_retries,
            decospecs,
            metaflow_conn_id,
        )
        for name, value in arguments.items():
            setattr(self, name, value)

    def execute(self, context: Any) -> Any:
        from airflow_provider_metaflow.operators.pod_run import PodStep

        self._pod_step = PodStep(self, context)
        self._pod_step.prepare()  # sets this pod's command and environment
        self.do_xcom_push = False  # to KubernetesPodOperator: no XCom sidecar in the pod
        super().execute(context)  # deferrable: defers here, and resumes in trigger_reentry
        return self._finish(self._pod_step)

    def trigger_reentry(self, context: Any, event: dict[str, Any]) -> Any:
        from airflow_provider_metaflow.operators.pod_run import PodStep

        self.do_xcom_push = False
        super().trigger_reentry(context, event)
        return self._finish(PodStep(self, context))

    def _finish(self, pod_step: PodStep) -> Any:
        """The task's return value is its XCom (a foreach's split list), read from the datastore."""
        self.do_xcom_push = True
        return pod_step.finish()
