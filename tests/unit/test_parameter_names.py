"""Parameter names Metaflow cannot turn into command-line options are compile problems."""

from typing import Any

import pytest
from metaflow import FlowSpec, Parameter, step

from airflow_provider_metaflow.compiler.parameters import parameter_plans
from metaflow_extensions.airflow_provider_metaflow.plugins import metaflow_deploy_adapter


def _flow_with_parameter(name: str) -> Any:
    class NamedFlow(FlowSpec):
        value = Parameter(name, default="v")

        @step
        def start(self):  # type: ignore[no-untyped-def]
            self.next(self.end)

        @step
        def end(self):  # type: ignore[no-untyped-def]
            pass

    return NamedFlow


@pytest.mark.parametrize("name", ["a b", "x=y", "{{ ds }}", "a,b", "🎉"])
def test_unusable_parameter_names_are_named_with_a_fix(name: str) -> None:
    plans, problems = parameter_plans(_flow_with_parameter(name), metaflow_deploy_adapter, has_schedule=False)

    assert plans == []
    (problem,) = problems
    assert problem.where == f"parameter {name!r}"
    assert "letters, digits, '_' and '-'" in problem.fix


@pytest.mark.parametrize("name", ["plain", "dashed-name", "größe", "UpperCase"])
def test_usable_parameter_names_compile(name: str) -> None:
    plans, problems = parameter_plans(_flow_with_parameter(name), metaflow_deploy_adapter, has_schedule=False)

    assert problems == [] and [plan.name for plan in plans] == [name]
