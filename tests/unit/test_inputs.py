from airflow_provider_metaflow.runtime.ids import metaflow_task_id, task_index_path_of
from airflow_provider_metaflow.runtime.inputs import StepInputs, input_paths, run_relative, split_index_for


def test_start_reads_the_parameters_task() -> None:
    assert input_paths("r", StepInputs(), ()) == ["r/_parameters/params"]


def test_branch_join_takes_every_parent() -> None:
    assert input_paths("r", StepInputs(parents=("a", "b")), ()) == ["r/a/t", "r/b/t"]


def test_first_foreach_body_step_reads_the_foreach_task_and_gets_a_split_index() -> None:
    inputs = StepInputs(parents=("fan",), foreach="fan")
    assert input_paths("r", inputs, (2,)) == ["r/fan/t"]
    assert split_index_for(inputs, (2,)) == 2


def test_later_body_step_reads_the_same_split_of_its_parent() -> None:
    inputs = StepInputs(parents=("square",), foreach="fan")
    assert input_paths("r", inputs, (2,)) == ["r/square/t-2"]
    assert split_index_for(inputs, (2,)) is None


def test_foreach_join_takes_every_split_of_its_own_position() -> None:
    inputs = StepInputs(parents=("body",), join_of="fan")
    assert input_paths("r", inputs, (), join_width=3) == ["r/body/t-0", "r/body/t-1", "r/body/t-2"]
    assert input_paths("r", inputs, (4,), join_width=2) == ["r/body/t-4-0", "r/body/t-4-1"]


def test_iteration_ids_keep_the_index_path_readable() -> None:
    assert metaflow_task_id((3,), iteration=2) == "t-3-i2"
    assert metaflow_task_id((), iteration=0) == "t-i0"
    assert task_index_path_of("t-1-2-i7") == (1, 2)
    assert task_index_path_of("t") == ()


def test_xcom_pathspecs_become_run_relative_input_paths() -> None:
    assert run_relative("Flow/r/step/t-1") == "r/step/t-1"
