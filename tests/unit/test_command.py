import json

from airflow_provider_metaflow.runtime.command import (
    FlowCommand,
    StepInvocation,
    config_file_content,
    step_command,
)
from metaflow_extensions.airflow_provider_metaflow.plugins.metaflow_adapter import init_arguments

FLOW = FlowCommand("py", "flow.py")


def test_step_command_puts_top_level_options_before_the_step_command() -> None:
    argv = step_command(
        FLOW,
        StepInvocation(
            step="train",
            run_id="airflow-1",
            task_id="t-2",
            input_paths="airflow-1/start/t",
            split_index=2,
            retry_count=1,
            max_user_code_retries=3,
            tags=("x",),
            namespace="ns",
        ),
    )
    assert argv[:5] == ["py", "flow.py", "--quiet", "--no-pylint", "--with=airflow_provider_internal"]
    step_part = argv[5:]
    assert step_part[:2] == ["step", "train"]
    assert step_part[2:] == [
        "--run-id",
        "airflow-1",
        "--task-id",
        "t-2",
        "--input-paths",
        "airflow-1/start/t",
        "--split-index",
        "2",
        "--retry-count",
        "1",
        "--max-user-code-retries",
        "3",
        "--tag",
        "x",
        "--namespace",
        "ns",
    ]


def test_datastore_and_metadata_come_from_the_step_process_config_not_the_command_line() -> None:
    argv = step_command(FLOW, StepInvocation(step="start", run_id="r", task_id="t"))
    assert not [arg for arg in argv if arg.startswith(("--datastore", "--metadata", "--environment"))]


def test_decorators_attached_at_create_reach_every_step_before_the_internal_one() -> None:
    flow = FlowCommand("py", "flow.py", decospecs=("kubernetes:cpu=2",))
    argv = step_command(flow, StepInvocation(step="start", run_id="r", task_id="t"))
    withs = [arg for arg in argv if arg.startswith("--with=")]
    assert withs == ["--with=kubernetes:cpu=2", "--with=airflow_provider_internal"]


def test_wide_joins_read_input_paths_from_a_file() -> None:
    argv = step_command(
        FLOW,
        StepInvocation(
            step="join",
            run_id="r",
            task_id="t",
            input_paths_file="/tmp/paths",
        ),
    )
    assert "--input-paths-filename" in argv and "--input-paths" not in argv


def test_init_passes_each_parameter_as_one_token() -> None:
    argv = init_arguments("r", "params", ["x"], {"alpha": "-1", "text": "a b\n$(x)"})
    assert argv == ["--run-id", "r", "--task-id", "params", "--tag", "x", "--alpha=-1", "--text=a b\n$(x)"]


def test_configs_are_read_from_a_local_config_file_by_every_command() -> None:
    flow = FlowCommand("py", "flow.py", ("cfg",), "/scratch/configs.json")
    argv = step_command(flow, StepInvocation(step="start", run_id="r", task_id="t"))
    top_level = argv[: argv.index("step")]
    assert "--local-config-file=/scratch/configs.json" in top_level
    position = top_level.index("--config-value")
    assert top_level[position : position + 3] == ["--config-value", "cfg", "kv.cfg"]


def test_config_file_holds_metaflows_value_and_plain_flag() -> None:
    content = config_file_content({"cfg": '[{"a": "{{ x }}"}, false]'})
    assert json.loads(content) == {"user_configs": {"cfg": [{"a": "{{ x }}"}, False]}}


def test_a_resumed_task_names_the_origin_run_and_a_clone_its_origin_task() -> None:
    resumed = StepInvocation(step="join", run_id="airflow-2", task_id="t", clone_run_id="airflow-1")
    argv = step_command(FLOW, resumed)
    assert argv[argv.index("--clone-run-id") + 1] == "airflow-1" and "--clone-only" not in argv
    clone = StepInvocation(
        step="body",
        run_id="airflow-2",
        task_id="t-0",
        clone_run_id="airflow-1",
        clone_only="airflow-1/body/t-0",
    )
    argv = step_command(FLOW, clone)
    assert argv[argv.index("--clone-only") + 1] == "airflow-1/body/t-0"
    assert step_command(FLOW, StepInvocation(step="s", run_id="r", task_id="t")).count("--clone-run-id") == 0
