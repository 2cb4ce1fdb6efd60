"""MetaflowFlowSensor's pokes against real Metaflow runs (local metadata and datastore)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sensor_helpers import OTHER_USER, FinishedRuns, GatedRuns, unique_tag

from airflow_provider_metaflow import MetaflowFlowSensor
from airflow_provider_metaflow.version_compat import AirflowFailException, AirflowSkipException

NO_CONTEXT: dict[str, Any] = {}


def sensor(**kwargs: Any) -> MetaflowFlowSensor:
    kwargs.setdefault("flow_name", "SensedFlow")
    return MetaflowFlowSensor(task_id="wait", **kwargs)


def found(result: Any) -> str | None:
    """The pathspec a poke found, or None while the sensor keeps waiting."""
    return result.xcom_value if result else None


def test_latest_successful_run_matches(finished_runs: FinishedRuns) -> None:
    assert found(sensor().poke(NO_CONTEXT)) == finished_runs.plain.pathspec


def test_given_run_id_or_pathspec_matches_that_run(finished_runs: FinishedRuns) -> None:
    by_id = sensor(run_id=finished_runs.tagged.run_id)
    assert found(by_id.poke(NO_CONTEXT)) == finished_runs.tagged.pathspec
    by_task_pathspec = sensor(run_id=f"{finished_runs.tagged.pathspec}/start/1")
    assert found(by_task_pathspec.poke(NO_CONTEXT)) == finished_runs.tagged.pathspec


def test_pathspec_of_another_flow_is_refused() -> None:
    with pytest.raises(AirflowFailException, match="pathspec of flow 'OtherFlow'"):
        sensor(run_id="OtherFlow/12").poke(NO_CONTEXT)


def test_run_id_not_created_yet_keeps_waiting(finished_runs: FinishedRuns) -> None:
    assert found(sensor(run_id="1").poke(NO_CONTEXT)) is None


def test_tags_select_an_older_run_that_carries_them(finished_runs: FinishedRuns) -> None:
    assert found(sensor(tags=["nightly"]).poke(NO_CONTEXT)) == finished_runs.tagged.pathspec
    assert found(sensor(tags=["nightly", "not-on-any-run"]).poke(NO_CONTEXT)) is None


def test_namespace_selects_runs_of_that_user(finished_runs: FinishedRuns) -> None:
    other_user = sensor(namespace=f"user:{OTHER_USER}")
    assert found(other_user.poke(NO_CONTEXT)) == finished_runs.tagged.pathspec
    assert found(sensor(namespace="user:nobody_runs_this").poke(NO_CONTEXT)) is None


def test_project_branch_selects_runs_of_that_branch(finished_runs: FinishedRuns) -> None:
    feature = sensor(flow_name="ProjectSensedFlow", project="sensor_proj", project_branch="test.feature")
    assert found(feature.poke(NO_CONTEXT)) == finished_runs.feature_branch.pathspec
    other_project = sensor(flow_name="ProjectSensedFlow", project="another_proj")
    assert found(other_project.poke(NO_CONTEXT)) is None


def test_window_matches_the_run_that_finished_inside_it(finished_runs: FinishedRuns) -> None:
    tagged_at = finished_runs.tagged.finished_at
    assert tagged_at is not None
    around_tagged = sensor(
        finished_after=tagged_at - timedelta(milliseconds=1),
        finished_before=(tagged_at + timedelta(milliseconds=1)).isoformat(),
    )
    assert found(around_tagged.poke(NO_CONTEXT)) == finished_runs.tagged.pathspec


def test_window_relative_to_the_data_interval(finished_runs: FinishedRuns) -> None:
    plain_at = finished_runs.plain.finished_at
    assert plain_at is not None
    context = {"data_interval_start": plain_at, "data_interval_end": plain_at + timedelta(hours=1)}
    from_interval = sensor(finished_after=timedelta(0), finished_before=timedelta(0))
    assert found(from_interval.poke(context)) == finished_runs.plain.pathspec
    later = sensor(finished_after=timedelta(milliseconds=1))
    assert found(later.poke(context)) is None


def test_window_in_the_future_keeps_waiting(finished_runs: FinishedRuns) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert found(sensor(finished_after=tomorrow).poke(NO_CONTEXT)) is None


def test_window_that_closed_with_no_match_fails(finished_runs: FinishedRuns) -> None:
    last_year = datetime.now(UTC) - timedelta(days=365)
    closed = sensor(finished_before=last_year.isoformat())
    with pytest.raises(AirflowFailException, match="window has closed"):
        closed.poke(NO_CONTEXT)


def test_given_run_that_finished_outside_the_window_fails(finished_runs: FinishedRuns) -> None:
    plain_at = finished_runs.plain.finished_at
    assert plain_at is not None
    too_early = sensor(run_id=finished_runs.plain.run_id, finished_after=plain_at + timedelta(hours=1))
    with pytest.raises(AirflowFailException, match="not after"):
        too_early.poke(NO_CONTEXT)


def test_unknown_flow_fails_at_once(finished_runs: FinishedRuns) -> None:
    with pytest.raises(AirflowFailException, match="'NoSuchFlow' does not exist"):
        sensor(flow_name="NoSuchFlow").poke(NO_CONTEXT)


def test_unknown_flow_is_skipped_with_soft_fail(finished_runs: FinishedRuns) -> None:
    with pytest.raises(AirflowSkipException):
        sensor(flow_name="NoSuchFlow", soft_fail=True).poke(NO_CONTEXT)


def test_failed_run_fails_the_sensor_when_asked(finished_runs: FinishedRuns) -> None:
    failing = sensor(flow_name="FailingFlow", fail_on_failed_run=True)
    with pytest.raises(AirflowFailException, match="boom/.* failed on attempt 1"):
        failing.poke(NO_CONTEXT)
    by_id = sensor(flow_name="FailingFlow", run_id=finished_runs.failed.run_id, fail_on_failed_run=True)
    with pytest.raises(AirflowFailException, match=f"Run {finished_runs.failed.pathspec} failed"):
        by_id.poke(NO_CONTEXT)


def test_failed_run_keeps_the_sensor_waiting_by_default(finished_runs: FinishedRuns) -> None:
    assert found(sensor(flow_name="FailingFlow").poke(NO_CONTEXT)) is None
    by_id = sensor(flow_name="FailingFlow", run_id=finished_runs.failed.run_id)
    assert found(by_id.poke(NO_CONTEXT)) is None


def test_failure_before_the_window_does_not_fail_the_sensor(finished_runs: FinishedRuns) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    failing = sensor(flow_name="FailingFlow", fail_on_failed_run=True, finished_after=tomorrow)
    assert found(failing.poke(NO_CONTEXT)) is None


def test_retries_recorded_in_the_run_decide_when_a_task_failed_for_good(
    finished_runs: FinishedRuns,
) -> None:
    from metaflow import Run

    from airflow_provider_metaflow.sensors.metaflow_client import allowed_attempts

    run = Run(finished_runs.failed.pathspec, _namespace_check=False)
    assert allowed_attempts(run) == {"start": 1, "boom": 2, "end": 1}


def test_run_that_finishes_while_the_sensor_waits_is_found(gated_run: GatedRuns) -> None:
    tag = unique_tag("waits")
    run = gated_run.start(tag)
    pathspec = run.pathspec()
    waiting = sensor(flow_name="GatedFlow", tags=[tag], fail_on_failed_run=True)
    assert found(waiting.poke(NO_CONTEXT)) is None
    assert found(sensor(flow_name="GatedFlow", run_id=pathspec.split("/")[1]).poke(NO_CONTEXT)) is None

    gated_run.open_gate()
    deadline = time.monotonic() + 60
    result = None
    while result is None and time.monotonic() < deadline:
        result = found(waiting.poke(NO_CONTEXT))
    assert result == pathspec
    assert run.finish() == pathspec  # the run succeeded
