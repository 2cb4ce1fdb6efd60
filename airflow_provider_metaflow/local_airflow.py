"""A real Airflow on this machine, in the background, on loopback: for trying flows on Airflow
minutes after `pip install`, with the UI.

    airflow-metaflow-local start    # api-server, scheduler, dag-processor, triggerer; prints URL and login
    airflow-metaflow-local status
    airflow-metaflow-local stop     # every process it started, by PID, and their task processes

It is the test harness's real-services setup (`testing.services`: LocalExecutor, SQLite, free
loopback ports) left running: one folder (`--home`, else METAFLOW_AIRFLOW_LOCAL_HOME, else
~/.airflow-provider-metaflow/local) holds Airflow's home, the DAGs folder to deploy to, and the
local Metaflow datastore and metadata the steps write, which the Metaflow client reads with the
variables `start` prints. Needs the `local` extra (`pip install "airflow-provider-metaflow[local]"`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ENV_HOME = "METAFLOW_AIRFLOW_LOCAL_HOME"
DEFAULT_HOME = Path("~/.airflow-provider-metaflow/local")
USERNAME = "admin"
PARALLELISM = 4  # tasks at once: enough to see a foreach fan out, little enough for a laptop
STOP_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class LocalAirflow:
    """Where one local Airflow lives."""

    home: Path

    @classmethod
    def at(cls, home: str | os.PathLike[str] | None = None) -> LocalAirflow:
        chosen = home or os.environ.get(ENV_HOME) or DEFAULT_HOME
        return cls(Path(chosen).expanduser().absolute())

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def dags_folder(self) -> Path:
        return self.home / "dags"

    @property
    def metaflow_root(self) -> Path:
        """The local datastore's sysroot (METAFLOW_DATASTORE_SYSROOT_LOCAL) of every step."""
        return self.home / "metaflow"

    @property
    def state_file(self) -> Path:
        return self.home / "local-airflow.json"

    @property
    def passwords_file(self) -> Path:
        return self.airflow_home / "passwords.json"

    @property
    def services_env_file(self) -> Path:
        """The Airflow settings the services run with (their secrets too: readable by the owner only)."""
        return self.airflow_home / "services-env.json"

    def metaflow_env(self) -> dict[str, str]:
        """What the steps run with, and what a Metaflow client needs to read their runs."""
        return {
            "METAFLOW_DEFAULT_DATASTORE": "local",
            "METAFLOW_DEFAULT_METADATA": "local",
            "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(self.metaflow_root),
        }

    def state(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return None

    def reserialize(self) -> None:
        """Parse the DAGs folder now and store what it defines (`airflow dags reserialize` with the
        services' settings): a new DAG file is listed at once, not at the next folder scan."""
        from airflow_provider_metaflow.testing.services import (
            AIRFLOW_ENV_PREFIXES,
            reserialize_dags,
            run_airflow_cli,
        )

        settings = json.loads(self.services_env_file.read_text())
        env = {key: value for key, value in os.environ.items() if not key.startswith(AIRFLOW_ENV_PREFIXES)}
        reserialize_dags(partial(run_airflow_cli, sys.executable, {**env, **settings}, self.airflow_home))

    def password(self) -> str | None:
        try:
            return str(json.loads(self.passwords_file.read_text())[USERNAME])
        except (FileNotFoundError, KeyError, ValueError):
            return None


def running_processes(state: dict[str, Any]) -> dict[str, Any]:
    """{component: psutil.Process} of the recorded services still alive, each checked to be the
    process that was started (same PID and start time), never one that reused its PID."""
    import psutil

    alive = {}
    for component, (pid, created) in state["processes"].items():
        try:
            process = psutil.Process(pid)
            if abs(process.create_time() - created) < 1.0 and process.status() != psutil.STATUS_ZOMBIE:
                alive[component] = process
        except psutil.NoSuchProcess:
            continue
    return alive


def start(local: LocalAirflow, parallelism: int = PARALLELISM) -> dict[str, Any]:
    """Start the services, wait until they are healthy, record their PIDs, and leave them running."""
    import psutil

    from airflow_provider_metaflow.testing.services import (
        AIRFLOW_ENV_PREFIXES,
        AirflowServices,
        ServicesConfig,
    )

    state = local.state()
    if state is not None and running_processes(state):
        raise SystemExit(f"A local Airflow already runs from {local.home} ({state['url']}); stop it first.")
    for folder in (local.dags_folder, local.metaflow_root):
        folder.mkdir(parents=True, exist_ok=True)
    config = ServicesConfig(
        airflow_home=local.airflow_home,
        dags_folder=local.dags_folder,
        parallelism=parallelism,
        extra_env={
            **local.metaflow_env(),
            "METAFLOW_USER": os.environ.get("METAFLOW_USER") or os.environ.get("USER") or "airflow",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(local.passwords_file),
        },
    )
    services = AirflowServices(config).start()
    pids = services.detach()
    state = {
        "url": services.base_url,
        "processes": {name: [pid, psutil.Process(pid).create_time()] for name, pid in pids.items()},
        "logs": str(services.log_folder),
    }
    settings = {key: value for key, value in services.env.items() if key.startswith(AIRFLOW_ENV_PREFIXES)}
    descriptor = os.open(local.services_env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(settings, handle)
    local.state_file.write_text(json.dumps(state, indent=2))
    return state


def stop(local: LocalAirflow, grace: float = STOP_GRACE_SECONDS) -> list[int]:
    """SIGTERM each service's process group, then SIGKILL whatever of them and their task
    processes is left after `grace`. Returns the PIDs it signalled."""
    import psutil

    state = local.state()
    if state is None:
        return []
    leaders = running_processes(state)
    everything: dict[int, Any] = {}
    for process in leaders.values():
        everything[process.pid] = process
        for child in process.children(recursive=True):
            everything[child.pid] = child
    for process in leaders.values():  # each service leads a process group of its own
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    _gone, alive = psutil.wait_procs(list(everything.values()), timeout=grace)
    for process in alive:
        try:
            process.kill()  # psutil refuses a PID that now names another process
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=5.0)
    local.state_file.unlink(missing_ok=True)
    return sorted(everything)


def status(local: LocalAirflow) -> dict[str, Any]:
    """Which services run, and what the API's health endpoint says."""
    import httpx

    state = local.state()
    if state is None:
        return {"running": False, "home": str(local.home)}
    alive = running_processes(state)
    report: dict[str, Any] = {
        "running": bool(alive),
        "home": str(local.home),
        "url": state["url"],
        "services": {name: name in alive for name in state["processes"]},
    }
    try:
        report["health"] = httpx.get(f"{state['url']}/api/v2/monitor/health", timeout=5.0).json()
    except (httpx.HTTPError, ValueError) as error:
        report["health"] = f"no answer: {error}"
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="airflow-metaflow-local", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument(
        "--home", default=None, help=f"its folder (default: ${ENV_HOME}, else {DEFAULT_HOME})"
    )
    parser.add_argument("--parallelism", type=int, default=PARALLELISM, help="tasks that may run at once")
    args = parser.parse_args(argv)
    local = LocalAirflow.at(args.home)
    if args.command == "start":
        began = time.monotonic()
        state = start(local, args.parallelism)
        print(f"Airflow runs at {state['url']} (started in {time.monotonic() - began:.0f} s).")
        print(f"Log in as {USERNAME!r} with password {local.password()!r}.")
        print(f"Deploy flows into it: python flow.py airflow create {local.dags_folder / 'flow_dag.py'}")
        print("Read the runs with the Metaflow client after:")
        for name, value in local.metaflow_env().items():
            print(f"  export {name}={value}")
        print(f"Service logs: {state['logs']}. Stop it with `airflow-metaflow-local stop`.")
        return 0
    if args.command == "stop":
        stopped = stop(local)
        print(
            f"Stopped {len(stopped)} processes." if stopped else f"No local Airflow runs from {local.home}."
        )
        return 0
    report = status(local)
    print(json.dumps(report, indent=2))
    return 0 if report["running"] else 3


if __name__ == "__main__":
    sys.exit(main())
