"""@schedule -> a five-field cron string (and timezone) that Airflow reads as Metaflow meant it.

Metaflow writes schedules in EventBridge's six-field, Quartz-flavoured cron (`daily` is
`0 0 * * ? *`: minute, hour, day of month, month, day of week, year). Airflow 3 reads a sixth
field as seconds and would fire every second of that minute. So the year goes, `?` becomes `*`,
weekday numbers move from 1-7 (Sunday first) to cron's 0-6, and Quartz's `5L` (last Thursday)
and `6#3` (third Friday) become croniter's `L4` and `5#3`. What Airflow's cron cannot express
(a year restriction, `LW`, offsets from the last day) is a compile problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_metaflow.compiler.errors import Problem

_WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_LAST_WEEKDAY = re.compile(r"^(\d|[A-Za-z]{3})L$")
_NTH_WEEKDAY = re.compile(r"^(\d|[A-Za-z]{3})#([1-5])$")
_WEEKDAY_NUMBER = re.compile(r"(?<![/\d#])\d+")  # weekday numbers, not step sizes or nth
_DAY_OF_MONTH = re.compile(r"^(\*|\?|L|\d{1,2}W|[\d,\-/*]+)$")


@dataclass(frozen=True)
class Schedule:
    cron: str  # five fields, as Airflow's cron (croniter) reads them
    timezone: str | None = None


def schedule_from_attributes(attributes: Mapping[str, Any]) -> tuple[Schedule | None, list[Problem]]:
    """The schedule for @schedule's attributes, or the problems that prevent one."""
    timezone = attributes.get("timezone") or None
    problems = _timezone_problems(timezone)
    cron = attributes.get("cron")
    if cron:
        expression, cron_problems = eventbridge_to_cron(str(cron))
    elif attributes.get("weekly"):
        expression, cron_problems = "0 0 * * 0", []
    elif attributes.get("hourly"):
        expression, cron_problems = "0 * * * *", []
    elif attributes.get("daily"):
        expression, cron_problems = "0 0 * * *", []
    else:
        return None, problems
    problems += cron_problems
    if problems or expression is None:
        return None, problems
    return Schedule(expression, timezone), []


def eventbridge_to_cron(expression: str) -> tuple[str | None, list[Problem]]:
    fields = expression.split()
    if len(fields) == 5:
        return _validated(" ".join(fields), expression)
    if len(fields) != 6:
        return None, [
            _problem(
                expression,
                f"has {len(fields)} fields.",
                "Write five cron fields (minute hour day month weekday) or Metaflow's six "
                "(minute hour day-of-month month day-of-week year).",
            )
        ]
    minute, hour, day, month, weekday, year = fields
    if year not in ("*", "?"):
        return None, [
            _problem(
                expression,
                f"restricts the year ({year!r}), which Airflow's cron cannot express.",
                "Use '*' for the year and pause the DAG when it should stop.",
            )
        ]
    if not _DAY_OF_MONTH.match(day):
        return None, [
            _problem(
                expression,
                f"uses day-of-month {day!r}, which Airflow's cron cannot express.",
                "Use a day number, a range, 'L' (last day) or 'nW' (weekday nearest day n).",
            )
        ]
    converted_weekday = _weekday(weekday)
    if converted_weekday is None:
        return None, [
            _problem(
                expression,
                f"uses day-of-week {weekday!r}, which Airflow's cron cannot express.",
                "Use weekday numbers or names, ranges, 'nL' (last weekday n) or 'n#k' (k-th weekday n).",
            )
        ]
    day = "*" if day == "?" else day
    return _validated(" ".join((minute, hour, day, month, converted_weekday)), expression)


def _weekday(field: str) -> str | None:
    if field in ("?", "*"):
        return "*"
    last = _LAST_WEEKDAY.match(field)
    if last:
        number = _weekday_number(last.group(1))
        return None if number is None else f"L{number}"
    nth = _NTH_WEEKDAY.match(field)
    if nth:
        number = _weekday_number(nth.group(1))
        return None if number is None else f"{number}#{nth.group(2)}"
    if "L" in field.upper() or "#" in field:  # no weekday name contains an L
        return None
    return _WEEKDAY_NUMBER.sub(lambda m: str(int(m.group()) - 1), field)


def _weekday_number(token: str) -> int | None:
    """Quartz weekday (1-7 from Sunday, or a name) -> cron's 0-6."""
    if token.isdigit():
        return int(token) - 1 if 1 <= int(token) <= 7 else None
    name = token.upper()
    return _WEEKDAY_NAMES.index(name) if name in _WEEKDAY_NAMES else None


def _validated(cron: str, original: str) -> tuple[str | None, list[Problem]]:
    """Check the result with croniter, the parser Airflow's cron timetables use."""
    try:
        from croniter import croniter
    except ImportError:  # compiling without Airflow's dependencies: Airflow checks at parse time
        return cron, []
    if not croniter.is_valid(cron):
        return None, [
            _problem(
                original,
                f"becomes {cron!r}, which Airflow's cron does not accept.",
                "Rewrite it with plain cron fields.",
            )
        ]
    return cron, []


def _timezone_problems(timezone: str | None) -> list[Problem]:
    if timezone is None:
        return []
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return [
            Problem(
                "@schedule",
                f"timezone={timezone!r} is not an IANA time zone.",
                "Use a name such as 'Europe/Paris' or 'America/Los_Angeles'.",
            )
        ]
    return []


def _problem(expression: str, what: str, fix: str) -> Problem:
    return Problem("@schedule", f"cron={expression!r} {what}", fix)
