import pytest

from airflow_provider_metaflow.compiler.schedule import (
    Schedule,
    eventbridge_to_cron,
    schedule_from_attributes,
)


@pytest.mark.parametrize(
    ("attributes", "cron"),
    [
        ({"daily": True}, "0 0 * * *"),
        ({"hourly": True, "daily": True}, "0 * * * *"),
        ({"weekly": True, "daily": True}, "0 0 * * 0"),
        ({"cron": "0 0 * * ? *", "daily": True}, "0 0 * * *"),
        ({"cron": "*/5 * * * *"}, "*/5 * * * *"),
    ],
)
def test_metaflow_schedules_become_five_field_cron(attributes: dict, cron: str) -> None:
    assert schedule_from_attributes(attributes) == (Schedule(cron), [])


def test_no_schedule() -> None:
    assert schedule_from_attributes({"daily": False}) == (None, [])


@pytest.mark.parametrize(
    ("quartz", "cron"),
    [
        ("15 10 ? * 2-6 *", "15 10 * * 1-5"),  # Monday-Friday: Quartz numbers weekdays from Sunday = 1
        ("0 12 ? * MON-FRI *", "0 12 * * MON-FRI"),
        ("0 0 ? * 1/2 *", "0 0 * * 0/2"),  # step sizes are not weekdays
        ("0 0 L * ? *", "0 0 L * *"),  # last day of the month
        ("0 8 15W * ? *", "0 8 15W * *"),  # weekday nearest the 15th
        ("0 18 ? * 6L *", "0 18 * * L5"),  # last Friday
        ("0 18 ? * FRIL *", "0 18 * * L5"),
        ("0 9 ? * 2#1 *", "0 9 * * 1#1"),  # first Monday
        ("0 9 ? * MON#2 ?", "0 9 * * 1#2"),
    ],
)
def test_quartz_fields_are_converted(quartz: str, cron: str) -> None:
    assert eventbridge_to_cron(quartz) == (cron, [])


def test_timezone_is_kept() -> None:
    schedule, problems = schedule_from_attributes({"cron": "0 9 * * ? *", "timezone": "Europe/Paris"})
    assert problems == [] and schedule == Schedule("0 9 * * *", "Europe/Paris")


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"cron": "0 0 * * ? 2027"}, "restricts the year"),
        ({"cron": "0 0 LW * ? *"}, "day-of-month 'LW'"),
        ({"cron": "0 0 L-2 * ? *"}, "day-of-month 'L-2'"),
        ({"cron": "0 0 ? * 9L *"}, "day-of-week '9L'"),
        ({"cron": "0 0 * *"}, "has 4 fields"),
        ({"cron": "0 0 * * BAD *"}, "which Airflow's cron does not accept"),
        ({"cron": "0 0 * * ? *", "timezone": "Mars/Olympus"}, "not an IANA time zone"),
    ],
)
def test_unconvertible_schedules_are_compile_problems(attributes: dict, message: str) -> None:
    schedule, problems = schedule_from_attributes(attributes)
    assert schedule is None
    assert len(problems) == 1 and message in str(problems[0])
    assert problems[0].where == "@schedule"
