"""Take the pictures of docs/getting-started.md from a real local Airflow with headless Chromium.

    python docs/screenshots/take_screenshots.py [--out docs/images] [--chromium chromium]

Why a script: the pictures show Airflow's UI, which changes with every Airflow release, so one
command must renew them all the same way. It starts `airflow-metaflow-local` in a temporary home of
its own, deploys example_dags/flows/movie_stats_flow.py (Parameters, a branch and a foreach), and
photographs the DAG's graph, the trigger form with the flow's Parameters and a finished run. The
local Airflow is stopped at the end, on errors too.

Chromium is driven through its DevTools protocol over a WebSocket (websocket-client, the `docs`
extra): the UI's login is the `_token` cookie the auth manager reads, set before the first page
loads, so no login page is ever shown. Needs Debian's `chromium` (apt-get install chromium).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import websocket

from airflow_provider_metaflow.local_airflow import USERNAME, LocalAirflow
from airflow_provider_metaflow.testing.rest import AirflowRestClient, fetch_token

REPO = Path(__file__).resolve().parents[2]
FLOW_FILE = REPO / "example_dags" / "flows" / "movie_stats_flow.py"
DAG_ID = "MovieStatsFlow"
DAG_FILE_NAME = "movie_stats_dag.py"
# Values other than the defaults, so the finished run is visibly the one the form would start.
CONF: dict[str, Any] = {"genre": "all", "min_votes": 1500, "rating_scale": 100.0}
VIEWPORT = (1400, 900)
# The DAG's owner and the Metaflow user shown in the UI: neutral, whoever renews the pictures.
METAFLOW_USER = "airflow"
SETTLE_SECONDS = 1.5  # after the awaited element shows: fonts, layout and React Flow's fit-to-view


class DevTools:
    """One Chromium page, driven by DevTools protocol commands (each waits for its own answer)."""

    def __init__(self, ws_url: str) -> None:
        self._socket = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self._socket.close()

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:  # events arrive in between: skip them
            message = json.loads(self._socket.recv())
            if message.get("id") != message_id:
                continue
            if "error" in message:
                raise RuntimeError(f"{method} failed: {message['error']}")
            return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def wait_for(self, expression: str, what: str, timeout: float = 60.0) -> None:
        """Poll a JavaScript condition: the UI is a React app that renders after its API calls."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.evaluate(expression):
                    break
            except RuntimeError:
                pass  # the page is being replaced by a navigation
            if time.monotonic() > deadline:
                failed = Path(tempfile.gettempdir()) / "take-screenshots-failed.png"
                self.screenshot(failed)
                where = self.evaluate("location.href")
                raise TimeoutError(f"page never showed {what} ({where}); it showed {failed}")
            time.sleep(0.25)
        self.evaluate("document.fonts.ready.then(() => true)")
        time.sleep(SETTLE_SECONDS)

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


@contextmanager
def chromium(executable: str, profile: Path) -> Iterator[DevTools]:
    """Headless Chromium with a throwaway profile and a DevTools port of its choosing; the process
    is ended by its PID afterwards."""
    argv = [
        executable,
        "--headless=new",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
        "--hide-scrollbars",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--lang=en-US",
        "about:blank",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.insert(1, "--no-sandbox")  # Chromium refuses to start its sandbox as root
    process = subprocess.Popen(  # noqa: S603 - argv list
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    page: DevTools | None = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not start its DevTools server")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        (target,) = [item for item in targets if item["type"] == "page"][:1]
        page = DevTools(target["webSocketDebuggerUrl"])
        page.send("Page.enable")
        page.send("Network.enable")
        width, height = VIEWPORT
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        page.send("Emulation.setDeviceMetricsOverride", **metrics)
        page.send("Emulation.setTimezoneOverride", timezoneId="UTC")
        yield page
    finally:
        if page is not None:
            page.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def local_airflow_command(home: Path, command: str) -> None:
    """`airflow-metaflow-local start|stop` on this script's own home, never the default one."""
    env = {**os.environ, "METAFLOW_USER": METAFLOW_USER}
    env.pop("METAFLOW_AIRFLOW_LOCAL_HOME", None)
    subprocess.run(  # noqa: S603 - argv list
        [sys.executable, "-m", "airflow_provider_metaflow.local_airflow", command, "--home", str(home)],
        env=env,
        stdin=subprocess.DEVNULL,
        check=True,
        timeout=600,
    )


def deploy(local: LocalAirflow) -> None:
    """Copy the flow under the DAGs folder and compile its DAG next to it, as the docs say to."""
    flows = local.dags_folder / "flows"
    flows.mkdir(parents=True, exist_ok=True)
    (local.dags_folder / ".airflowignore").write_text("flows/\n")
    flow = flows / FLOW_FILE.name
    shutil.copy2(FLOW_FILE, flow)
    env = {**os.environ, **local.metaflow_env(), "METAFLOW_USER": METAFLOW_USER}
    subprocess.run(  # noqa: S603 - argv list
        [sys.executable, str(flow), "airflow", "create", str(local.dags_folder / DAG_FILE_NAME)],
        cwd=flows,
        env=env,
        stdin=subprocess.DEVNULL,
        check=True,
        timeout=300,
    )


def wait_for_dag(client: AirflowRestClient, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get_dag(DAG_ID) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{DAG_ID} not listed after {timeout:.0f} s: {client.import_errors()}")
        time.sleep(1.0)


def dag_task_ids(url: str, token: str) -> list[str]:
    """Every task of the DAG: the pictures wait until the UI draws each one."""
    response = httpx.get(
        f"{url}/api/v2/dags/{DAG_ID}/tasks", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    response.raise_for_status()
    return [task["task_id"] for task in response.json()["tasks"]]


def click(page: DevTools, selector: str) -> None:
    page.evaluate(f"document.querySelector({json.dumps(selector)}).click(), true")


def show_view(page: DevTools, url: str, view: str) -> None:
    """The DAG page shows a graph or a grid, whichever the UI last used (kept in localStorage)."""
    page.evaluate(f"localStorage.setItem('default_dag_view', {json.dumps(json.dumps(view))})")
    page.navigate(url)


def take(out: Path, executable: str, home: Path) -> None:
    local = LocalAirflow.at(home)
    local_airflow_command(home, "start")
    state = local.state()
    password = local.password()
    if state is None or password is None:
        raise RuntimeError(f"the local Airflow in {home} recorded no URL or password")
    url = str(state["url"]).rstrip("/")
    token = fetch_token(url, USERNAME, password)
    deploy(local)
    with AirflowRestClient(url, token=token) as client, chromium(executable, home / "chromium") as page:
        wait_for_dag(client)
        client.set_paused(DAG_ID, False)
        task_ids = dag_task_ids(url, token)

        page.send("Network.setCookie", name="_token", value=token, url=url, httpOnly=True, sameSite="Lax")
        page.navigate(f"{url}/dags")  # an origin for localStorage
        page.wait_for("document.readyState === 'complete'", "the DAG list")
        nodes = " && ".join(f"!!document.querySelector('[data-testid=\"rf__node-{t}\"]')" for t in task_ids)

        show_view(page, f"{url}/dags/{DAG_ID}", "graph")
        page.wait_for(nodes, "every task in the graph")
        click(page, 'button[aria-label="Collapse Details Panel"]')  # the whole width for the graph
        time.sleep(SETTLE_SECONDS)
        click(page, 'button[aria-label="Fit View"]')
        page.wait_for("true", "the graph fitted to the wider view")
        page.screenshot(out / "dag-graph.png")

        click(page, '[data-testid="trigger-dag-button"]')
        page.wait_for(
            "!!document.querySelector('[data-testid=\"trigger-dag-submit\"]')"
            " && document.body.innerText.includes('min_votes')",
            "the trigger form with the flow's Parameters",
        )
        page.screenshot(out / "trigger-form.png")

        run_id = client.trigger_dag_run(DAG_ID, conf=CONF)
        run = client.wait_for_dag_run(DAG_ID, run_id, timeout=600)
        if run.state != "success":
            raise RuntimeError(f"the DAG run {run_id} ended {run.state!r}")
        show_view(page, f"{url}/dags/{DAG_ID}/runs/{run_id}", "grid")
        page.wait_for(
            f"{json.dumps(task_ids)}.every(task => document.body.innerText.includes(task))"
            " && [...document.querySelectorAll('[data-testid=\"state-badge\"]')]"
            ".filter(badge => badge.innerText.trim() === 'Success').length > 1",
            "the finished run's grid and its successful tasks",
        )
        page.screenshot(out / "finished-run.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="where the PNGs go")
    parser.add_argument("--chromium", default="chromium", help="the Chromium executable")
    parser.add_argument("--keep-home", action="store_true", help="keep the local Airflow's folder (logs)")
    args = parser.parse_args()
    executable = shutil.which(args.chromium)
    if executable is None:
        parser.error(f"{args.chromium!r} not found: apt-get install -y chromium")
    home = Path(tempfile.mkdtemp(prefix="airflow-screenshots-"))
    try:
        take(args.out.absolute(), executable, home)
    finally:
        local_airflow_command(home, "stop")
        if args.keep_home:
            print(f"local Airflow folder kept: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
