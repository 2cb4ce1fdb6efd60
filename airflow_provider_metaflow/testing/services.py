"""Real Airflow services on loopback for tests: api-server, scheduler, dag-processor, triggerer.

Why: `dag.test()` runs a whole DAG in one process, one task at a time. Users run Airflow as
separate services with an executor that starts each task in its own process, and tasks that
talk to the execution API over HTTP. This module starts that shape (LocalExecutor, SQLite, a
temporary AIRFLOW_HOME, free loopback ports) so tests see real parallelism, real clears and
retries, and real task logs.

    from airflow_provider_metaflow.testing.services import AirflowServices, ServicesConfig

    config = ServicesConfig(airflow_home=tmp / "home", dags_folder=tmp / "dags",
                            extra_env={"METAFLOW_USER": "tester"})
    with AirflowServices(config) as services:        # db migrate, start, wait until healthy
        services.register_dags("my_dag")             # parse now, wait for the API, unpause
        run_id = services.rest.trigger_dag_run("my_dag", conf={"alpha": 1})
        assert services.rest.wait_for_dag_run("my_dag", run_id).state == "success"

The services' environment is built here (`services.env`): the calling process's own AIRFLOW_*
variables are not passed on, so one pytest session can also run `dag.test()` against another
AIRFLOW_HOME. Every other variable is inherited, and `extra_env` (for example METAFLOW_*
settings that each task process must see) is applied last, so it may override anything here.
In pytest, prefer the fixtures in `airflow_provider_metaflow.testing.plugin`.
"""

from __future__ import annotations

import atexit
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_metaflow.testing.process_groups import exit_status, stop_trees

if TYPE_CHECKING:
    from airflow_provider_metaflow.testing.rest import AirflowRestClient

API_SERVER = "api-server"
SCHEDULER = "scheduler"
DAG_PROCESSOR = "dag-processor"
TRIGGERER = "triggerer"
CELERY_WORKER = "celery-worker"
_SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
_LOG_TAIL_LINES = 40


class ServicesError(RuntimeError):
    """The services could not be started, or did not become healthy or ready in time."""


@dataclass(frozen=True)
class ServicesConfig:
    """Where and how to run one set of Airflow services."""

    airflow_home: Path
    dags_folder: Path
    parallelism: int = 4
    extra_env: Mapping[str, str] = field(default_factory=dict)
    triggerer: bool = True
    host: str = "127.0.0.1"
    startup_timeout: float = 180.0
    stop_grace: float = 10.0
    python: str = sys.executable
    # CeleryExecutor with this many `airflow celery worker` processes (each in a working folder
    # of its own, as on separate machines) instead of LocalExecutor; the broker comes from
    # extra_env (AIRFLOW__CELERY__BROKER_URL, AIRFLOW__CELERY__RESULT_BACKEND).
    celery_workers: int = 0
    celery_worker_env: Sequence[Mapping[str, str]] = ()  # more variables for worker 0, 1, ...

    def __post_init__(self) -> None:
        for name in ("airflow_home", "dags_folder"):  # accept str too; children need absolute paths
            object.__setattr__(self, name, Path(getattr(self, name)).absolute())

    @property
    def components(self) -> tuple[str, ...]:
        base = (API_SERVER, SCHEDULER, DAG_PROCESSOR, *(TRIGGERER,) * self.triggerer)
        return (*base, *(f"{CELERY_WORKER}-{index}" for index in range(self.celery_workers)))


def free_port(host: str) -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


AIRFLOW_ENV_PREFIXES = ("AIRFLOW_", "_AIRFLOW_", "AIRFLOW__")  # what configures an Airflow process


def run_airflow_cli(
    python: str, env: Mapping[str, str], cwd: Path, *args: str, timeout: float = 300.0
) -> subprocess.CompletedProcess[str]:
    """Run `airflow ARGS` with this environment; raise ServicesError with its output if it fails."""
    completed = subprocess.run(  # noqa: S603 - argv list
        [python, "-m", "airflow", *args],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise ServicesError(
            f"`airflow {' '.join(args)}` failed with status {completed.returncode}:\n"
            f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
        )
    return completed


def reserialize_dags(run_cli: Callable[..., Any], attempts: int = 3) -> None:
    """`airflow dags reserialize` through `run_cli`, again if it raced the dag-processor inserting
    the same new DAG (SQLite reports a UNIQUE constraint failure; the next pass finds the row and
    updates it)."""
    for attempt in range(attempts):
        try:
            run_cli("dags", "reserialize")
            return
        except ServicesError as error:
            if "UNIQUE constraint failed" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(1.0)


def services_environment(config: ServicesConfig, api_port: int) -> dict[str, str]:
    """The environment of every service and task process: inherited, minus AIRFLOW_*, plus ours."""
    home = config.airflow_home
    base_url = f"http://{config.host}:{api_port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith(AIRFLOW_ENV_PREFIXES)}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW__CORE__DAGS_FOLDER": str(config.dags_folder),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if config.celery_workers else "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(config.parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": _SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # Task processes reach the execution API of this api-server, not localhost:8080.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": config.host,
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "1",
            # Random per instance and passed only through the environment: the scheduler signs
            # task tokens with the JWT secret and the api-server checks them.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
            # A task's supervisor notices its task ended at its next heartbeat check: every second
            # rather than every 5 s, so each task frees its slot seconds earlier (benchmarks/README.md).
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "bundles"),
            # Another Airflow on this machine may hold the default log-server ports.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port(config.host)),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port(config.host)),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    env.update(config.extra_env)
    return env


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class AirflowServices:
    """One running set of Airflow services; a context manager that always stops what it started."""

    def __init__(self, config: ServicesConfig) -> None:
        self.config = config
        self.env: dict[str, str] = {}
        self.api_port = 0
        self.startup_seconds: float | None = None
        self.timings: dict[str, float] = {}  # seconds per startup phase: migrate, healthy
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._rest: AirflowRestClient | None = None
        self._started = False
        self._stopped = False

    # --- facts -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.api_port}"

    @property
    def pids(self) -> dict[str, int]:
        """PID of each started service; each is also the id of the service's process group."""
        return {name: process.pid for name, process in self._processes.items()}

    @property
    def rest(self) -> AirflowRestClient:
        """A REST client for this api-server (created on first use, closed by stop())."""
        if self._rest is None:
            from airflow_provider_metaflow.testing.rest import AirflowRestClient

            self._rest = AirflowRestClient(self.base_url)
        return self._rest

    @property
    def log_folder(self) -> Path:
        return self.config.airflow_home / "services"

    def log_path(self, component: str) -> Path:
        return self.log_folder / f"{component}.log"

    def log_tails(self) -> str:
        return "\n".join(
            f"--- last lines of {self.log_path(name)} ---\n{_tail(self.log_path(name))}"
            for name in self.config.components
        )

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> AirflowServices:
        """Migrate the database, start every component and wait until the API reports them healthy."""
        if self._started:
            raise ServicesError("these services were already started; create a new AirflowServices")
        self._started = True
        started_at = time.monotonic()
        for folder in (self.config.airflow_home, self.config.dags_folder, self.log_folder):
            folder.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port(self.config.host)
        self.env = services_environment(self.config, self.api_port)
        self.run_cli("db", "migrate")
        self.timings["migrate"] = time.monotonic() - started_at
        atexit.register(self.stop)
        try:
            for name in self.config.components:
                self._launch(name)
            self.wait_healthy(self.config.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started_at
        self.timings["healthy"] = self.startup_seconds - self.timings["migrate"]
        return self

    def _launch(self, component: str) -> None:
        argv = [self.config.python, "-m", "airflow", component]
        cwd = self.config.airflow_home
        if component == API_SERVER:
            argv += ["--host", self.config.host, "--port", str(self.api_port)]
        env = self.env
        if component.startswith(CELERY_WORKER):
            index = int(component.rsplit("-", 1)[1])
            cwd = self.config.airflow_home / component
            cwd.mkdir(exist_ok=True)
            argv[3:] = ["celery", "worker", "--celery-hostname", f"{component}@%h", "--concurrency", "2"]
            argv += ["--skip-serve-logs"] if index else []  # one log server port per machine
            extra = self.config.celery_worker_env
            env = {**env, **(extra[index] if index < len(extra) else {})}
        with open(self.log_path(component), "ab") as log:
            self._processes[component] = subprocess.Popen(  # noqa: S603 - fixed argv
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        """SIGTERM each service's process group, SIGKILL what is left after the grace period.

        Safe to call more than once, and registered with atexit while the services run.
        """
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if self._rest is not None:
            self._rest.close()
        # The scheduler first: its task processes still report their final state to the API.
        first = [process for name, process in self._processes.items() if name == SCHEDULER]
        rest = [process for name, process in self._processes.items() if name != SCHEDULER]
        stop_trees([first, rest], self.config.stop_grace)

    def detach(self) -> dict[str, int]:
        """Leave the services running after this process ends (a background local Airflow):
        nothing stops them at exit any more. Returns each service's PID, its process group id."""
        atexit.unregister(self.stop)
        self._stopped = True
        if self._rest is not None:
            self._rest.close()
        return self.pids

    def __enter__(self) -> AirflowServices:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- readiness -------------------------------------------------------------------------

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        """Wait until /api/v2/monitor/health reports every started component healthy."""
        import httpx

        wanted = ["metadatabase", "scheduler", "dag_processor"] + (
            ["triggerer"] if self.config.triggerer else []
        )
        deadline = time.monotonic() + timeout
        last: Any = "no answer yet"
        warmed = False
        while True:
            self._raise_if_exited()
            try:
                response = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5.0)
                last = response.json() if response.status_code == 200 else f"HTTP {response.status_code}"
                if not warmed:
                    # The execution API builds its routes on its first request (~5 s, blocking
                    # the server): pay that now rather than in the first task of a test.
                    httpx.get(
                        f"{self.base_url}/execution/health", timeout=max(deadline - time.monotonic(), 5.0)
                    )
                    warmed = True
            except (httpx.HTTPError, ValueError) as error:
                last = f"{type(error).__name__}: {error}"
            if (
                isinstance(last, dict)
                and all((last.get(part) or {}).get("status") == "healthy" for part in wanted)
                and self._celery_workers_ready()
            ):
                return last
            if time.monotonic() > deadline:
                raise ServicesError(
                    f"Airflow services at {self.base_url} not healthy after {timeout:.0f} s "
                    f"(need {', '.join(wanted)}); last health answer: {last}\n{self.log_tails()}"
                )
            time.sleep(0.5)

    def _celery_workers_ready(self) -> bool:
        """Celery workers have no health endpoint: each logs `ready.` once it takes tasks."""
        workers = [name for name in self.config.components if name.startswith(CELERY_WORKER)]
        return all("ready." in _tail(self.log_path(name), 400) for name in workers)

    def _raise_if_exited(self) -> None:
        for name, process in self._processes.items():
            status = exit_status(process)
            if status is not None:
                raise ServicesError(
                    f"airflow {name} exited with status {status} while starting; "
                    f"its log is {self.log_path(name)}\n{self.log_tails()}"
                )

    def run_cli(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run `airflow ARGS` with the services' environment; raise with its output if it fails."""
        return run_airflow_cli(self.config.python, self.env, self.config.airflow_home, *args, timeout=timeout)

    def _reserialize(self) -> None:
        reserialize_dags(self.run_cli)

    def register_dags(self, *dag_ids: str, timeout: float = 60.0) -> None:
        """Serialize the DAG files now, wait until the API lists each DAG, and unpause it.

        Without this a new file waits for the dag-processor's next folder scan. A DAG file that
        fails to import raises ServicesError with Airflow's stack trace.
        """
        self._reserialize()
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while missing:
            missing = [dag_id for dag_id in missing if self.rest.get_dag(dag_id) is None]
            if not missing:
                break
            errors = self.rest.import_errors()
            if errors:
                details = "\n".join(f"{error['filename']}:\n{error['stack_trace']}" for error in errors)
                raise ServicesError(f"DAG files failed to import, so {missing} are missing:\n{details}")
            if time.monotonic() > deadline:
                raise ServicesError(
                    f"DAGs {missing} not listed by the API {timeout:.0f} s after `airflow dags reserialize`; "
                    f"is each dag_id defined in a file under {self.config.dags_folder}?"
                )
            time.sleep(0.5)
        for dag_id in dag_ids:
            self.rest.set_paused(dag_id, False)
