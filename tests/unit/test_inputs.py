from collections.abc import Sequence

from airflow_provider_metaflow.runtime.inputs import StepInputs, input_paths, split_index_for


def _never(step: str, index_path: Sequence[int]) -> int:
    raise AssertionError("only a foreach join asks for the split count")


def test_start_reads_the_parameters_task() -> None:
    assert input_paths("r", StepInputs(), (), _never) == "r/_parameters/params"


def test_branch_join_takes_every_parent() -> None:
    assert input_paths("r", StepInputs(parents=("a", "b")), (), _never) == "r/a/t,r/b/t"


def test_first_foreach_body_step_reads_the_foreach_task_and_gets_a_split_index() -> None:
    inputs = StepInputs(parents=("fan",), foreach="fan")
    assert input_paths("r", inputs, (2,), _never) == "r/fan/t"
    assert split_index_for(inputs, (2,)) == 2


def test_later_body_step_reads_the_same_split_of_its_parent() -> None:
    inputs = StepInputs(parents=("square",), foreach="fan")
    assert input_paths("r", inputs, (2,), _never) == "r/square/t-2"
    assert split_index_for(inputs, (2,)) is None


def test_foreach_join_asks_the_split_count_once_and_takes_every_split() -> None:
    asked: list[tuple[str, tuple[int, ...]]] = []

    def width(step: str, index_path: Sequence[int]) -> int:
        asked.append((step, tuple(index_path)))
        return 3

    inputs = StepInputs(parents=("body",), join_of="fan")
    assert input_paths("r", inputs, (), width) == "r/body/:t-0,t-1,t-2"
    assert asked == [("fan", ())]
