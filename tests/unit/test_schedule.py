import pytest

from airflow_provider_metaflow.compiler.schedule import eventbridge_to_cron, schedule_from_attributes


@pytest.mark.parametrize(
    ("attributes", "cron"),
    [
        ({"daily": True}, "0 0 * * *"),
        ({"hourly": True, "daily": True}, "0 * * * *"),
        ({"weekly": True, "daily": True}, "0 0 * * 0"),
        ({"daily": False}, None),
        ({"cron": "0 0 * * ? *", "daily": True}, "0 0 * * *"),
        ({"cron": "15 10 ? * 2-6 *"}, "15 10 * * 1-5"),
        ({"cron": "0 12 ? * MON *"}, "0 12 * * MON"),
        ({"cron": "*/5 * * * *"}, "*/5 * * * *"),
    ],
)
def test_metaflow_schedules_become_five_field_cron(attributes: dict, cron: str | None) -> None:
    assert schedule_from_attributes(attributes) == (cron, [])


def test_weekday_step_sizes_are_not_shifted() -> None:
    assert eventbridge_to_cron("0 0 ? * 1/2 *")[0] == "0 0 * * 0/2"


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 0 L * ? *", "Quartz"),
        ("0 0 * * ? 2027", "year"),
        ("0 0 * *", "4 fields"),
    ],
)
def test_unconvertible_schedules_are_compile_problems(cron: str, message: str) -> None:
    result, problems = eventbridge_to_cron(cron)
    assert result is None
    assert len(problems) == 1 and message in str(problems[0])
