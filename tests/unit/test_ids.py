from airflow_provider_metaflow.runtime.ids import (
    compress_input_paths,
    metaflow_run_id,
    metaflow_task_id,
    parameters_pathspec,
    task_pathspec,
)

FORBIDDEN_IN_METAFLOW_IDS = set(":,!/")


def test_run_id_is_deterministic_and_metaflow_safe() -> None:
    airflow_run_id = "manual__2026-11-24T05:35:10.199510+00:00"
    first = metaflow_run_id("my_dag", airflow_run_id)
    assert first == metaflow_run_id("my_dag", airflow_run_id)
    assert first.startswith("airflow-")
    assert not FORBIDDEN_IN_METAFLOW_IDS & set(first)


def test_run_id_differs_per_dag_and_per_run() -> None:
    ids = {
        metaflow_run_id("a", "run1"),
        metaflow_run_id("b", "run1"),
        metaflow_run_id("a", "run2"),
        metaflow_run_id("a\0r", "un1"),
    }
    assert len(ids) == 4


def test_task_ids_are_never_bare_integers() -> None:
    # Metaflow's metadata providers skip registering integer ids they did not mint.
    for index_path in [(), (0,), (12,), (1, 2)]:
        task_id = metaflow_task_id(index_path)
        assert not task_id.isdigit()
        assert not FORBIDDEN_IN_METAFLOW_IDS & set(task_id)
    assert metaflow_task_id(()) == "t"
    assert metaflow_task_id((3,)) == "t-3"
    assert metaflow_task_id((1, 2)) == "t-1-2"


def test_pathspecs() -> None:
    assert task_pathspec("r", "train", (4,)) == "r/train/t-4"
    assert parameters_pathspec("r") == "r/_parameters/params"


def test_input_paths_of_one_step_use_metaflows_compressed_form() -> None:
    paths = ["r/train/t-0", "r/train/t-1", "r/train/t-2"]
    assert compress_input_paths(paths) == "r/train/:t-0,t-1,t-2"


def test_input_paths_of_different_steps_are_listed() -> None:
    assert compress_input_paths(["r/a/t", "r/b/t"]) == "r/a/t,r/b/t"
    assert compress_input_paths(["r/a/t"]) == "r/a/t"


def test_compressed_form_round_trips_through_metaflow() -> None:
    from metaflow.util import decompress_list  # noqa: TID251 - tests use Metaflow internals

    paths = [f"r/train/t-{i}" for i in range(50)]
    assert decompress_list(compress_input_paths(paths)) == paths
