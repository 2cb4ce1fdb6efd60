"""MetaflowFlowTrigger: waits in the triggerer for a Metaflow run that matches a query.

Each check is a short child process started with `asyncio.create_subprocess_exec`, so the
triggerer's event loop never blocks on Metaflow's synchronous client, and Metaflow's configuration
(read from the environment at import) comes from this trigger's connection alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_metaflow.hooks.metaflow import MetaflowHook
from airflow_provider_metaflow.sensors.query import MATCHED, NEVER, QueryFailed, RunQuery, aexecute_query

# Failed checks in a row (not "no run yet": the check itself failed) before the sensor fails.
MAX_FAILED_CHECKS_IN_A_ROW = 3

ERROR = "error"


class MetaflowFlowTrigger(BaseTrigger):
    """Fires once: ``matched`` with the run's pathspec, ``never`` when nothing can match, or
    ``error`` when the check itself fails (connection, child process).

    It serializes to its classpath and these arguments only, so a triggerer restart loses
    nothing; secrets are read from the connection in the triggerer, never stored here.

    :param query: a ``RunQuery`` as JSON (``RunQuery.to_json()``).
    :param metaflow_conn_id: the ``metaflow`` connection; None for the triggerer's own config.
    :param poke_interval: seconds between checks.
    """

    def __init__(
        self, query: Mapping[str, Any], metaflow_conn_id: str | None = None, poke_interval: float = 60.0
    ) -> None:
        super().__init__()
        self.query = dict(query)
        self.metaflow_conn_id = metaflow_conn_id
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "query": self.query,
                "metaflow_conn_id": self.metaflow_conn_id,
                "poke_interval": self.poke_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        query = RunQuery.from_json(self.query)
        try:
            # The connection lookup is synchronous: keep it off the event loop.
            hook = MetaflowHook(self.metaflow_conn_id)
            environment = await asyncio.to_thread(hook.metaflow_environment)
            failures = 0
            while True:
                try:
                    answer = await aexecute_query(query, environment)
                except QueryFailed as failed:  # a passing outage (the metadata service, S3)
                    failures += 1
                    if failures >= MAX_FAILED_CHECKS_IN_A_ROW:
                        raise
                    self.log.warning(
                        "Checking for a run of %s failed (%d in a row, giving up at %d): %s",
                        query.flow,
                        failures,
                        MAX_FAILED_CHECKS_IN_A_ROW,
                        failed,
                    )
                    await asyncio.sleep(self.poke_interval)
                    continue
                failures = 0
                if answer.status == MATCHED:
                    yield TriggerEvent(
                        {"status": MATCHED, "pathspec": answer.pathspec, "reason": answer.reason}
                    )
                    return
                if answer.status == NEVER:
                    yield TriggerEvent({"status": NEVER, "reason": answer.reason})
                    return
                self.log.info("Waiting for a run of %s: %s", query.flow, answer.reason)
                await asyncio.sleep(self.poke_interval)
        except Exception as exc:  # reported to the task, which fails with this message
            yield TriggerEvent({"status": ERROR, "reason": f"{type(exc).__name__}: {exc}"})
