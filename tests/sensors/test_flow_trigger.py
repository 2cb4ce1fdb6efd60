"""MetaflowFlowTrigger driven with asyncio directly: real child processes, real Metaflow runs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sensor_helpers import FinishedRuns, GatedRuns, unique_tag

from airflow_provider_metaflow.sensors.query import RunQuery
from airflow_provider_metaflow.triggers.flow import MetaflowFlowTrigger


def trigger_for(**query: Any) -> MetaflowFlowTrigger:
    conn_id = query.pop("metaflow_conn_id", None)
    return MetaflowFlowTrigger(RunQuery(**query).to_json(), metaflow_conn_id=conn_id, poke_interval=0.2)


async def first_event(trigger: MetaflowFlowTrigger) -> dict[str, Any]:
    events: AsyncIterator[Any] = trigger.run()
    try:
        event = await asyncio.wait_for(anext(events), timeout=120)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    return dict(event.payload)


def test_trigger_fires_for_a_run_that_already_finished(finished_runs: FinishedRuns) -> None:
    event = asyncio.run(first_event(trigger_for(flow="SensedFlow", tags=("nightly",))))
    assert event["status"] == "matched"
    assert event["pathspec"] == finished_runs.tagged.pathspec


def test_trigger_reports_a_flow_that_does_not_exist(finished_runs: FinishedRuns) -> None:
    event = asyncio.run(first_event(trigger_for(flow="NoSuchFlow")))
    assert event["status"] == "never"
    assert "'NoSuchFlow' does not exist" in event["reason"]


def test_trigger_reports_a_failed_run_when_asked(finished_runs: FinishedRuns) -> None:
    event = asyncio.run(first_event(trigger_for(flow="FailingFlow", fail_on_failed_run=True)))
    assert event["status"] == "never"
    assert finished_runs.failed.pathspec in event["reason"]


def test_trigger_reports_a_connection_it_cannot_read() -> None:
    event = asyncio.run(first_event(trigger_for(flow="SensedFlow", metaflow_conn_id="no_such_conn")))
    assert event["status"] == "error"
    assert "no_such_conn" in event["reason"]


def test_trigger_fires_when_a_run_finishes_while_it_waits(
    gated_run: GatedRuns, capfd: pytest.CaptureFixture[str]
) -> None:
    tag = unique_tag("trigger")
    run = gated_run.start(tag)
    pathspec = run.pathspec()

    async def scenario() -> dict[str, Any]:
        events = trigger_for(flow="GatedFlow", tags=(tag,)).run()
        next_event = asyncio.ensure_future(anext(events))
        logged = ""
        deadline = time.monotonic() + 60
        while "Waiting for a run of GatedFlow" not in logged:
            assert not next_event.done(), "the trigger fired before the run finished"
            assert time.monotonic() < deadline, f"the trigger never reported waiting: {logged}"
            await asyncio.sleep(0.1)
            captured = capfd.readouterr()
            logged += captured.out + captured.err
        gated_run.open_gate()
        try:
            event = await asyncio.wait_for(next_event, timeout=120)
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        return dict(event.payload)

    event = asyncio.run(scenario())
    assert event == {"status": "matched", "pathspec": pathspec, "reason": event["reason"]}


def test_trigger_serializes_to_its_classpath_and_arguments_without_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "fake-secret-0123456789"
    connection = {"conn_type": "metaflow", "password": secret, "extra": {"aws_secret_access_key": secret}}
    monkeypatch.setenv("AIRFLOW_CONN_METAFLOW_WITH_SECRET", json.dumps(connection))
    trigger = trigger_for(
        flow="SensedFlow",
        tags=("nightly",),
        finished_after="2025-01-01T00:00:00+00:00",
        metaflow_conn_id="metaflow_with_secret",
    )

    classpath, kwargs = trigger.serialize()

    assert classpath == "airflow_provider_metaflow.triggers.flow.MetaflowFlowTrigger"
    assert secret not in json.dumps(kwargs)
    from airflow.sdk.module_loading import import_string

    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert RunQuery.from_json(rebuilt.query) == RunQuery.from_json(trigger.query)


def test_a_check_that_keeps_failing_ends_the_trigger_after_three_tries(
    finished_runs: FinishedRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check that fails (not "no run yet") may be a passing outage: the trigger tries again,
    and gives up with an error only after three failures in a row."""
    broken = {
        "conn_type": "metaflow",
        "extra": {"environment": json.dumps({"METAFLOW_DEFAULT_METADATA": "nosuch"})},
    }
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN_METADATA", json.dumps(broken))

    import structlog.testing  # the triggerer's logs go through structlog

    with structlog.testing.capture_logs() as logs:
        event = asyncio.run(first_event(trigger_for(flow="SensedFlow", metaflow_conn_id="broken_metadata")))

    assert event["status"] == "error" and "QueryFailed" in event["reason"]
    retries = [str(log["event"]) for log in logs if "failed (" in str(log.get("event"))]
    assert [message.split("(")[1].split(" ")[0] for message in retries] == ["1", "2"]
