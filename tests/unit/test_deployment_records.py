"""What a deployment is found again by: the DAG's tags, where `create` puts its files, and the
resume request a DAG run's conf carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_metaflow.plan import DAG_TAG, deployment_tags, read_deployment_tags
from airflow_provider_metaflow.remote.deploy import FLOWS_FOLDER, deployed_files
from metaflow_extensions.airflow_provider_metaflow.plugins.contract import ResumeRequest


def test_deployment_tags_name_the_flow_and_its_project_branch() -> None:
    tags = deployment_tags("ScoreFlow", "fraud", "test.new_model")
    assert tags[0] == DAG_TAG
    assert read_deployment_tags([*tags, "other:x"]) == {
        "flow": "ScoreFlow",
        "project": "fraud",
        "branch": "test.new_model",
    }
    assert read_deployment_tags(deployment_tags("LinearFlow", None, None)) == {"flow": "LinearFlow"}
    too_long = deployment_tags("F", "p", "user." + "x" * 120)
    assert read_deployment_tags(too_long) == {"flow": "F", "project": "p"}, "Airflow refuses tags over 100"


def test_create_copies_a_flow_from_outside_the_dags_folder_and_uses_one_inside(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    outside = deployed_files(str(dags), "fraud.test.x.ScoreFlow", str(tmp_path / "work" / "score.py"))
    assert outside.dag_file == dags / "fraud_test_x_ScoreFlow_dag.py"
    assert outside.flow_file == dags / FLOWS_FOLDER / "fraud_test_x_ScoreFlow" / "score.py"
    inside = deployed_files(str(dags), "ScoreFlow", str(dags / "flows" / "score.py"))
    assert inside.flow_file == dags / "flows" / "score.py"


def test_a_resume_request_reads_back_and_refuses_what_it_cannot_read() -> None:
    request = ResumeRequest("airflow-1", ["end", "join"])
    assert ResumeRequest.from_conf(request.to_conf()) == request
    assert ResumeRequest.from_conf({"origin_run_id": "airflow-1"}).steps_to_rerun == []
    for bad in ("airflow-1", {"steps_to_rerun": []}, {"origin_run_id": "r", "steps_to_rerun": "end"}):
        with pytest.raises(ValueError, match="__metaflow_resume__"):
            ResumeRequest.from_conf(bad)
