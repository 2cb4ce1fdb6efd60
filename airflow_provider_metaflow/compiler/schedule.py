"""@schedule -> a five-field cron string Airflow reads the way Metaflow meant it.

Metaflow writes schedules as six-field EventBridge cron (`daily` is `0 0 * * ? *`: minute,
hour, day of month, month, day of week, year). Airflow 3 reads a sixth field as seconds and
would fire every second of that minute, so the year goes and `?` becomes `*`. EventBridge
numbers weekdays 1-7 from Sunday; cron numbers them 0-6.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_metaflow.compiler.errors import Problem

_UNSUPPORTED_QUARTZ = re.compile(r"[LW#]")
_NUMBER = re.compile(r"(?<![/\d])\d+")  # weekday numbers, not step sizes


def schedule_from_attributes(attributes: Mapping[str, Any]) -> tuple[str | None, list[Problem]]:
    """The cron string for @schedule's attributes, or the problems that prevent one."""
    if attributes.get("timezone"):
        return None, [
            Problem(
                "@schedule",
                f"timezone={attributes['timezone']!r} is not supported yet.",
                "Remove the timezone and write the cron expression in UTC.",
            )
        ]
    cron = attributes.get("cron")
    if cron:
        return eventbridge_to_cron(str(cron))
    if attributes.get("weekly"):
        return "0 0 * * 0", []
    if attributes.get("hourly"):
        return "0 * * * *", []
    if attributes.get("daily"):
        return "0 0 * * *", []
    return None, []


def eventbridge_to_cron(expression: str) -> tuple[str | None, list[Problem]]:
    fields = expression.split()
    if len(fields) == 5:
        return " ".join(fields), []
    if len(fields) != 6:
        return None, [
            Problem(
                "@schedule",
                f"cron={expression!r} has {len(fields)} fields.",
                "Write five cron fields (minute hour day month weekday) or Metaflow's six "
                "(minute hour day-of-month month day-of-week year).",
            )
        ]
    minute, hour, day, month, weekday, year = fields
    if year not in ("*", "?"):
        return None, [
            Problem(
                "@schedule",
                f"cron={expression!r} restricts the year ({year!r}), which Airflow's cron cannot express.",
                "Use '*' for the year and pause the DAG when it should stop.",
            )
        ]
    if _UNSUPPORTED_QUARTZ.search(" ".join(fields[:5])):
        return None, [
            Problem(
                "@schedule",
                f"cron={expression!r} uses Quartz 'L', 'W' or '#', not supported yet.",
                "Rewrite it with plain cron fields.",
            )
        ]
    weekday = _NUMBER.sub(lambda m: str(int(m.group()) - 1), weekday) if weekday != "?" else "*"
    day = "*" if day == "?" else day
    return " ".join((minute, hour, day, month, weekday)), []
