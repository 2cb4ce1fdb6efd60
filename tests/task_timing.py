"""How long task instances really ran at the same time, from the start and end dates Airflow kept."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from airflow_provider_metaflow.testing.rest import TaskInstance


def seconds_run_together(instances: Iterable[TaskInstance]) -> float:
    """The total time during which two or more of the instances were running.

    0 for instances that ran one after another, even back to back: at one moment, an end is
    counted before a start. An instance without both dates is left out.
    """
    changes: list[tuple[datetime, int]] = []
    for ti in instances:
        if ti.start_date and ti.end_date:
            changes += [(ti.start_date, 1), (ti.end_date, -1)]
    changes.sort()
    together = 0.0
    running = 0
    previous: datetime | None = None
    for moment, change in changes:
        if running >= 2 and previous is not None:
            together += (moment - previous).total_seconds()
        running += change
        previous = moment
    return together
