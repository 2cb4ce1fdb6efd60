"""A throwaway Airflow home (SQLite) and Metaflow local datastore for tests and demos."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TestEnvironment:
    """Folders of one throwaway Airflow + Metaflow setup."""

    __test__ = False  # not a pytest test class, despite the name
    root: Path
    airflow_home: Path
    dags_folder: Path
    flows_folder: Path
    metaflow_root: Path

    def migrate(self) -> None:
        """Create Airflow's SQLite database (dag.test() needs a migrated one)."""
        marker = self.airflow_home / ".migrated"
        if marker.exists():
            return
        subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "airflow", "db", "migrate"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        marker.touch()


def configure(root: str | os.PathLike[str]) -> TestEnvironment:
    """Point Airflow and Metaflow at folders under `root` through environment variables."""
    base = Path(root).absolute()
    env = TestEnvironment(
        root=base,
        airflow_home=base / "airflow",
        dags_folder=base / "dags",
        flows_folder=base / "flows",
        # The sysroot is an ancestor of the flows folder: Metaflow stores local cards in the
        # '.metaflow' it finds upwards from the step's working directory (the flow's folder).
        metaflow_root=base,
    )
    for folder in (env.airflow_home, env.dags_folder, env.flows_folder, env.metaflow_root):
        folder.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(env.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(env.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(env.metaflow_root),
            "METAFLOW_DEFAULT_DATASTORE": "local",
            "METAFLOW_DEFAULT_METADATA": "local",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    os.environ.setdefault("METAFLOW_USER", "tester")
    # Airflow's dag processor and task runner put a bundle's root on sys.path, so a DAG file
    # imports modules next to it (a `--task-group` module); dag.test() in this process does not.
    if str(env.dags_folder) not in sys.path:
        sys.path.append(str(env.dags_folder))
    return env
