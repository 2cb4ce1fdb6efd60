"""A loopback Kubernetes API server for tests: the endpoints KubernetesPodOperator (sync and
deferrable) calls, served by aiohttp, with pods run as local processes by `kubernetes_pods`.

No cluster can run on a test machine, and mocked Kubernetes clients would not test the operator:
here the real `kubernetes` and `kubernetes_asyncio` clients talk plain HTTP to 127.0.0.1, which
other processes (Airflow workers, triggerers) reach too.

    with KubernetesApiServer() as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        ...  # KubernetesPodOperator(in_cluster=False, config_file=str(kubeconfig), ...)
        assert server.created_pods[0]["spec"]["containers"][0]["args"] == [...]
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from airflow_provider_metaflow.testing.kubernetes_pods import (
    JSON,
    ApiError,
    Cluster,
    Pod,
    field_value,
    not_found,
    rfc3339_nano,
)

T = TypeVar("T")
VERSION = dict(  # the clients' VersionInfo model requires every field
    major="1",
    minor="33",
    gitVersion="v1.33.0",
    gitCommit="",
    gitTreeState="clean",
    buildDate="",
    goVersion="",
    compiler="gc",
    platform="linux/amd64",
)
PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
_REQUIREMENT = re.compile(
    r"\s*(?:!\s*(?P<absent>[\w./-]+)|(?P<key>[\w./-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[\w.-]*))?)\s*(?:,|$)"
)


@dataclass(frozen=True)
class ApiRequest:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    user_agent: str


def status_object(code: int, reason: str, message: str, details: JSON | None = None) -> JSON:
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "code": code, "reason": reason}
    status.update(status="Failure" if code >= 400 else "Success", message=message, details=details or {})
    return status


def label_selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Equality (`=`, `==`, `!=`) and existence (`key`, `!key`) requirements, all of which must hold;
    set requirements (`in`, `notin`) are refused, as nothing this server serves uses them."""
    position = 0
    while position < len(selector):
        match = _REQUIREMENT.match(selector, position)
        if not match or match.end() == position:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {selector[position:]!r}")
        position, key = match.end(), match["key"]
        if match["absent"]:
            matched = match["absent"] not in labels
        elif match["op"]:
            matched = (labels.get(key) == match["value"]) != (match["op"] == "!=")
        else:
            matched = key in labels
        if not matched:
            return False
    return True


def field_selector_matches(selector: str, obj: JSON) -> bool:
    for requirement in filter(None, (part.strip() for part in selector.split(","))):
        path, op, value = re.split(r"(==|!=|=)", requirement, maxsplit=1)
        if (str(field_value(obj, path.strip()) or "") == value.strip()) == (op == "!="):
            return False
    return True


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch. Strategic merge patches get the same treatment (maps merge, lists are
    replaced), which is exact for the labels and annotations KubernetesPodOperator patches."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class KubernetesApiServer:
    """The API on a free port of 127.0.0.1, served from a background thread with its own loop.

    `stop()` (or leaving the `with` block) kills every pod process group it started and closes
    the port. `extra_env` is added to every pod's environment, under the container's own `env`;
    a pod stays Pending (ContainerCreating) for `pending_seconds` before its process starts.
    """

    def __init__(self, extra_env: Mapping[str, str] | None = None, pending_seconds: float = 0.0) -> None:
        self._cluster_args = (dict(extra_env or {}), pending_seconds)
        self._requests: list[ApiRequest] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._cluster: Cluster | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> KubernetesApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> KubernetesApiServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kubernetes-api", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=60)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()
            self._loop = self._thread = None

    async def _open(self) -> None:
        self._cluster = Cluster(*self._cluster_args)
        pods, pod = "/api/v1/namespaces/{namespace}/pods", "/api/v1/namespaces/{namespace}/pods/{name}"
        secret = "/api/v1/namespaces/{namespace}/secrets/{name}"
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(
            [web.get(path, self._version) for path in ("/version", "/version/")]
            + [web.get(pods, self._list_pods)]
            + [web.post(pods, self._create_pod), web.get(pod, self._read_pod)]
            + [web.patch(pod, self._patch_pod), web.delete(pod, self._delete_pod)]
            + [web.get(pod + "/log", self._pod_log)]
            + [web.get("/api/v1/namespaces/{namespace}/events", self._events)]
            + [web.post("/api/v1/namespaces/{namespace}/secrets", self._create_secret)]
            + [web.get(secret, self._read_secret), web.delete(secret, self._delete_secret)]
        )
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def _close(self) -> None:
        if self._cluster is not None:
            await self._cluster.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """A kubeconfig (JSON, which is YAML) both Kubernetes clients accept: plain http, no auth."""
        context = {"cluster": "loopback", "user": "loopback", "namespace": namespace}
        config: JSON = {"apiVersion": "v1", "kind": "Config", "current-context": "loopback"}
        config["clusters"] = [{"name": "loopback", "cluster": {"server": self.url}}]
        config["users"] = [{"name": "loopback", "user": {}}]
        config["contexts"] = [{"name": "loopback", "context": context}]
        Path(path).write_text(json.dumps(config, indent=2))
        return Path(path)

    # What tests read: copies, taken on the server's loop ---------------------------------------

    def _snapshot(self, read: Callable[[Cluster], T]) -> T:
        cluster = self._cluster
        assert cluster is not None, "start the server first"

        async def take() -> T:
            return copy.deepcopy(read(cluster))

        if self._loop is None:  # stopped: nothing changes any more
            return copy.deepcopy(read(cluster))
        return asyncio.run_coroutine_threadsafe(take(), self._loop).result(timeout=30)

    @property
    def requests(self) -> list[ApiRequest]:
        return list(self._requests)

    @property
    def created_pods(self) -> list[JSON]:
        """Every pod body POSTed, as the client sent it."""
        return self._snapshot(lambda cluster: cluster.created_pods)

    @property
    def pods(self) -> dict[tuple[str, str], JSON]:
        """Pods that exist now, by (namespace, name), as GET returns them."""
        return self._snapshot(lambda cluster: {key: pod.obj for key, pod in cluster.pods.items()})

    @property
    def pids(self) -> dict[tuple[str, str], int]:
        """Process id (and process group id) of every pod container ever started."""
        return self._snapshot(lambda c: {p.key: p.process.pid for p in c.history if p.process})

    def pod_log(self, name: str, namespace: str = "default") -> str:
        """Everything a pod's container wrote (stdout and stderr), deleted pods included."""
        pods = self._snapshot(lambda c: [p.log for p in c.history if p.key == (namespace, name)])
        return b"".join(line for log in pods for _, line in log).decode(errors="replace")

    # HTTP ------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        agent = request.headers.get("User-Agent", "")
        self._requests.append(ApiRequest(request.method, request.path, dict(request.query), agent))
        try:
            return await handler(request)
        except ApiError as error:
            status = status_object(error.code, error.reason, error.message, error.details)
        except web.HTTPNotFound:
            status = status_object(404, "NotFound", "the server could not find the requested resource")
        except web.HTTPMethodNotAllowed:
            status = status_object(405, "MethodNotAllowed", "the server does not allow this method")
        return web.json_response(status, status=status["code"])

    @property
    def cluster(self) -> Cluster:
        assert self._cluster is not None
        return self._cluster

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response(VERSION)

    async def _body(self, request: web.Request) -> JSON:
        try:
            body = await request.json()
        except ValueError as error:
            raise ApiError(400, "BadRequest", f"the request body is not JSON: {error}") from error
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        return body

    def _list(self, kind: str, items: list[JSON]) -> web.Response:
        listing = {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": self.cluster.version}}
        return web.json_response(listing | {"items": items})

    def _pod(self, request: web.Request) -> Pod:
        return self.cluster.get_pod(request.match_info["namespace"], request.match_info["name"])

    async def _list_pods(self, request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        labels, fields = request.query.get("labelSelector", ""), request.query.get("fieldSelector", "")
        items = [
            pod.obj
            for (pod_namespace, _), pod in self.cluster.pods.items()
            if namespace == pod_namespace
            and label_selector_matches(labels, pod.obj["metadata"].get("labels") or {})
            and field_selector_matches(fields, pod.obj)
        ]
        return self._list("PodList", items)

    async def _create_pod(self, request: web.Request) -> web.Response:
        created = self.cluster.create_pod(request.match_info["namespace"], await self._body(request))
        return web.json_response(created, status=201)

    async def _read_pod(self, request: web.Request) -> web.Response:
        return web.json_response(self._pod(request).obj)

    async def _patch_pod(self, request: web.Request) -> web.Response:
        if request.content_type not in PATCH_TYPES:
            accepted = ", ".join(PATCH_TYPES)
            raise ApiError(415, "UnsupportedMediaType", f"accepted patch media types are: {accepted}")
        pod, patch = self._pod(request), await self._body(request)
        pod.obj["metadata"] = merge_patch(pod.obj["metadata"], patch.get("metadata") or {})
        self.cluster.touch(pod.obj)
        return web.json_response(pod.obj)

    async def _delete_pod(self, request: web.Request) -> web.Response:
        options = await self._body(request) if request.can_read_body else {}
        grace = options.get("gracePeriodSeconds", request.query.get("gracePeriodSeconds"))
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        return web.json_response(
            self.cluster.delete_pod(namespace, name, None if grace is None else int(grace))
        )

    async def _pod_log(self, request: web.Request) -> web.StreamResponse:
        pod, query = self._pod(request), request.query
        container = query.get("container") or pod.container["name"]
        if container != pod.container["name"]:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {pod.key[1]}")
        if pod.process is None and not pod.finished:
            reason = pod.obj["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            message = f'container "{container}" in pod "{pod.key[1]}" is waiting to start: {reason}'
            raise ApiError(400, "BadRequest", message)
        since = time.time_ns() - int(query["sinceSeconds"]) * 10**9 if "sinceSeconds" in query else 0
        if "sinceTime" in query:
            since = int(datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00")).timestamp() * 10**9)
        index = next((i for i, (stamp, _) in enumerate(pod.log) if stamp >= since), len(pod.log))
        index = max(index, len(pod.log) - int(query.get("tailLines", len(pod.log))))
        follow, timestamps = _flag(request, "follow"), _flag(request, "timestamps")

        def next_lines() -> tuple[bytes, bool]:
            nonlocal index
            finished, batch = pod.finished, pod.log[index:]
            index += len(batch)
            stamp = (lambda ns: rfc3339_nano(ns).encode() + b" ") if timestamps else (lambda ns: b"")
            return b"".join(stamp(ns) + line for ns, line in batch), finished or not follow

        return await self._stream(request, "text/plain", next_lines)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        namespace, fields = request.match_info["namespace"], request.query.get("fieldSelector", "")

        def newer_than(version: int) -> list[JSON]:
            return [
                event
                for event in self.cluster.events
                if namespace == event["metadata"]["namespace"]
                and int(event["metadata"]["resourceVersion"]) > version
                and field_selector_matches(fields, event)
            ]

        if not _flag(request, "watch"):
            return self._list("EventList", newer_than(0))
        version = int(request.query.get("resourceVersion") or 0)  # unset: existing events come first
        deadline = time.monotonic() + float(request.query.get("timeoutSeconds", 1800))

        def next_events() -> tuple[bytes, bool]:
            nonlocal version
            events = newer_than(version)
            version = max([version] + [int(event["metadata"]["resourceVersion"]) for event in events])
            lines = b"".join(json.dumps({"type": "ADDED", "object": e}).encode() + b"\n" for e in events)
            return lines, time.monotonic() >= deadline

        return await self._stream(request, "application/json", next_events, deadline)

    async def _stream(
        self,
        request: web.Request,
        content_type: str,
        produce: Callable[[], tuple[bytes, bool]],
        deadline: float = 0,
    ) -> web.StreamResponse:
        """Write what `produce` returns (data, done) as the cluster changes, until it is done or the
        client has gone away: how follow=true logs and watch=true lists answer."""
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError, RuntimeError):  # the client went away
            while True:
                changed = self.cluster.changed
                data, done = produce()
                if data:
                    await response.write(data)
                if done or request.transport is None or request.transport.is_closing():
                    break
                wait = min(1.0, deadline - time.monotonic()) if deadline else 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), max(wait, 0.0))
            await response.write_eof()
        return response

    async def _create_secret(self, request: web.Request) -> web.Response:
        created = self.cluster.create_secret(request.match_info["namespace"], await self._body(request))
        return web.json_response(created, status=201)

    async def _read_secret(self, request: web.Request) -> web.Response:
        return web.json_response(
            self.cluster.get_secret(request.match_info["namespace"], request.match_info["name"])
        )

    async def _delete_secret(self, request: web.Request) -> web.Response:
        key = (request.match_info["namespace"], request.match_info["name"])
        if key not in self.cluster.secrets:
            raise not_found("secrets", key[1])
        metadata = self.cluster.secrets.pop(key)["metadata"]
        self.cluster.touch()
        details = {"name": metadata["name"], "kind": "secrets", "uid": metadata["uid"]}
        return web.json_response(status_object(200, "", "", details))


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")
