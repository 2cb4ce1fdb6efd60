"""The test harness is opt-in: installing the provider changes nobody's pytest session, and
`-p airflow_provider_metaflow.testing.plugin` (or `pytest_plugins`) brings its fixtures and marker.

Each test runs pytest (or Python) as a child process with this interpreter, in a folder outside
this repository, so neither this repository's conftest.py nor its pytest settings apply there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

PLUGIN = "airflow_provider_metaflow.testing.plugin"
HEAVY = ("airflow", "metaflow", "httpx", "aiohttp", "moto", "boto3", "botocore", "kubernetes")


def _run_pytest(folder: Path, test_source: str, *args: str) -> subprocess.CompletedProcess[str]:
    (folder / "test_trivial.py").write_text(textwrap.dedent(test_source))
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    return subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_pytest_session_without_the_option_does_not_load_the_harness(tmp_path: Path) -> None:
    completed = _run_pytest(
        tmp_path,
        """
        import sys

        def test_the_harness_is_not_imported():
            assert not [name for name in sys.modules if name.startswith("airflow_provider_metaflow")]
        """,
        "--trace-config",
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "airflow_provider_metaflow" not in completed.stdout


def test_the_plugin_option_brings_the_fixtures_and_the_services_marker(tmp_path: Path) -> None:
    completed = _run_pytest(
        tmp_path,
        """
        import pytest

        def test_services_config_is_a_fixture(airflow_services_config, tmp_path_factory):
            assert airflow_services_config.airflow_home.is_relative_to(tmp_path_factory.getbasetemp())
            assert airflow_services_config.dags_folder.name == "dags"

        @pytest.mark.services
        def test_the_services_marker_is_registered():
            pass
        """,
        "--strict-markers",
        "-p",
        PLUGIN,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "2 passed" in completed.stdout


def test_the_plugin_option_lists_every_harness_fixture(tmp_path: Path) -> None:
    completed = _run_pytest(tmp_path, "def test_nothing(): pass\n", "--fixtures", "-p", PLUGIN)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    listed = {line.split()[0] for line in completed.stdout.splitlines() if line and not line[0].isspace()}
    fixtures = {"airflow_services_config", "airflow_services", "airflow_rest", "airflow_services_factory"}
    assert fixtures <= listed


def test_a_conftest_can_declare_the_plugin_with_pytest_plugins(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(f"pytest_plugins = [{PLUGIN!r}]\n")
    completed = _run_pytest(
        tmp_path,
        """
        import pytest

        @pytest.mark.services
        def test_services_config_is_a_fixture(airflow_services_config):
            assert airflow_services_config.parallelism >= 1
        """,
        "--strict-markers",
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_importing_the_plugin_and_the_harness_imports_no_heavy_module() -> None:
    script = (
        "import sys\n"
        f"import {PLUGIN}\n"
        "import airflow_provider_metaflow.testing\n"
        f"print(sorted({{name.split('.')[0] for name in sys.modules}} & set({HEAVY!r})))\n"
    )
    completed = subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    assert completed.stdout.strip() == "[]"


def test_dev_installs_the_testing_extra_without_the_provider_naming_itself() -> None:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]

    assert set(extras["testing"]) <= set(extras["dev"])
    # Metaflow orders its extensions by their packages' requirements and refuses a package that
    # requires itself, so `dev` cannot simply name `airflow-provider-metaflow[testing]`.
    named = {re.split(r"[\[<>=!~; ]", requirement)[0] for group in extras.values() for requirement in group}
    assert "airflow-provider-metaflow" not in named
