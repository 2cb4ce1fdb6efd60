"""@project, production tokens and tags: the Airflow deployment behaves like Metaflow's other schedulers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_metaflow.testing import run_dag, run_flow_locally, task_artifacts, task_counts
from airflow_provider_metaflow.version_compat import get_dagbag_class


@pytest.fixture
def metaflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Production tokens are cached in METAFLOW_HOME: keep each test's apart."""
    home = tmp_path / "metaflow-home"
    monkeypatch.setenv("METAFLOW_HOME", str(home))
    return home


def _create(
    flow_file: Path,
    dag_file: Path,
    top_level: tuple[str, ...] = (),
    options: tuple[str, ...] = (),
    user: str = "tester",
) -> subprocess.CompletedProcess[str]:
    """`python flow.py [TOP-LEVEL] airflow create DAG [OPTIONS]`, run as the Metaflow user `user`."""
    argv = [sys.executable, str(flow_file), *top_level, "airflow", "create", str(dag_file), *options]
    env = {**os.environ, "METAFLOW_USER": user}
    return subprocess.run(argv, cwd=flow_file.parent, capture_output=True, text=True, env=env)  # noqa: S603


def _dag(dag_file: Path) -> Any:
    bag = get_dagbag_class()(dag_folder=str(dag_file))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    return dag


@pytest.mark.parametrize(
    ("top_level", "dag_id", "branch"),
    [
        (("--branch", "feature_x"), "demo_proj.test.feature_x.ProjectFlow", "test.feature_x"),
        (("--production",), "demo_proj.prod.ProjectFlow", "prod"),
        ((), "demo_proj.user.tester.ProjectFlow", "user.tester"),
    ],
)
def test_project_branch_names_the_dag_and_reaches_every_step(
    top_level: tuple[str, ...],
    dag_id: str,
    branch: str,
    flow_copy: Any,
    dag_path: Path,
    airflow_db: Any,
    metaflow_home: Path,
) -> None:
    flow_file = flow_copy("project_flow.py")
    created = _create(flow_file, dag_path, top_level)
    assert created.returncode == 0, created.stderr
    assert _dag(dag_path).dag_id == dag_id

    result = run_dag(dag_path)

    assert result.state == "success"
    run = result.run()
    assert run["start"].task["branch"].data == branch
    assert {"project:demo_proj", f"project_branch:{branch}"} <= set(run.system_tags)
    assert f"airflow_dag_id:{dag_id}" in run.tags
    assert f"airflow_run_id:{result.airflow_run_id}" in run.tags
    local_run = run_flow_locally(flow_file, extra_top_level=top_level)
    assert task_counts(run) == task_counts(local_run)
    assert task_artifacts(run) == task_artifacts(local_run)


def test_only_the_owner_or_a_token_holder_can_replace_a_production_deployment(
    flow_copy: Any, tmp_path: Path, metaflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METAFLOW_DATASTORE_SYSROOT_LOCAL", str(tmp_path / "datastore"))  # no earlier owner
    flow_file = flow_copy("project_flow.py")
    dag_file = tmp_path / "prod_dag.py"
    first = _create(flow_file, dag_file, ("--production",), user="alice")
    assert first.returncode == 0, first.stderr
    token = _dag(dag_file).task_dict["start"].flow.production_token
    assert token and f"production:{token}" in first.stdout + first.stderr

    other_home = tmp_path / "bob-home"
    monkeypatch.setenv("METAFLOW_HOME", str(other_home))  # bob has no cached token
    refused = _create(flow_file, dag_file, ("--production",), user="bob")
    assert refused.returncode != 0
    assert "Incorrect production token" in refused.stdout + refused.stderr
    assert _dag(dag_file).task_dict["start"].flow.production_token == token  # nothing was replaced

    allowed = _create(flow_file, dag_file, ("--production",), ("--authorize", token), user="bob")
    assert allowed.returncode == 0, allowed.stderr
    assert _dag(dag_file).task_dict["start"].flow.production_token == token

    renewed = _create(flow_file, dag_file, ("--production",), ("--generate-new-token",), user="alice")
    assert renewed.returncode == 0, renewed.stderr
    assert _dag(dag_file).task_dict["start"].flow.production_token not in (None, token)


def test_name_cannot_be_given_for_a_project(flow_copy: Any, tmp_path: Path, metaflow_home: Path) -> None:
    flow_file = flow_copy("project_flow.py")
    argv = [
        sys.executable,
        str(flow_file),
        "airflow",
        "--name",
        "other",
        "create",
        str(tmp_path / "x_dag.py"),
    ]
    completed = subprocess.run(argv, cwd=flow_file.parent, capture_output=True, text=True)  # noqa: S603
    assert completed.returncode != 0
    assert "--name is not supported for @projects" in completed.stdout + completed.stderr
    assert not (tmp_path / "x_dag.py").exists()
