"""The cluster behind the loopback Kubernetes API: pods, secrets and events, with each pod's
container run as a local process (the image is ignored).

It plays scheduler and kubelet of one node: a pod goes Pending -> Running -> Succeeded/Failed with
the container statuses, conditions and events a real cluster reports, so KubernetesPodOperator's
own polling, log streaming and cleanup run unchanged. Everything here runs on the server's loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import itertools
import os
import re
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]
NODE, NODE_IP = "loopback", "127.0.0.1"
DEFAULT_GRACE_SECONDS = 30
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
_ENV_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_MAP_FIELD = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class ApiError(Exception):
    """An error the API answers with a Kubernetes Status object."""

    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{kind} "{name}" not found', {"name": name, "kind": kind})


def rfc3339(ns: int | None = None) -> str:
    """Timestamps of API objects: whole seconds, UTC."""
    seconds = (time.time_ns() if ns is None else ns) // 1_000_000_000
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_nano(ns: int) -> str:
    """Go's RFC3339Nano, as the kubelet prefixes log lines: trailing zeros of the fraction dropped."""
    fraction = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return f"{rfc3339(ns)[:-1]}.{fraction}Z" if fraction else rfc3339(ns)


def expand_references(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion (of variables defined earlier); `$$` escapes a `$`."""
    return _ENV_REFERENCE.sub(lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), text)


def field_value(obj: JSON, path: str) -> Any:
    """A field path as fieldRef and field selectors use it: `status.podIP`, `metadata.labels['k']`."""
    if mapped := _MAP_FIELD.match(path):
        return (obj.get("metadata", {}).get(mapped[1]) or {}).get(mapped[2])
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class Pod:
    """One pod object plus what the node knows about its container process."""

    obj: JSON
    log: list[tuple[int, bytes]] = field(default_factory=list)  # (time in ns, one line)
    process: asyncio.subprocess.Process | None = None
    finished: bool = False  # the container ended and all its output is read
    task: asyncio.Task[None] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.obj["metadata"]["namespace"], self.obj["metadata"]["name"]

    @property
    def container(self) -> JSON:
        return dict(self.obj["spec"]["containers"][0])

    @property
    def deleting(self) -> bool:
        return "deletionTimestamp" in self.obj["metadata"]


class Cluster:
    """Objects the API serves, and the one node that runs the pods."""

    def __init__(self, extra_env: dict[str, str], pending_seconds: float) -> None:
        self.pods: dict[tuple[str, str], Pod] = {}
        self.secrets: dict[tuple[str, str], JSON] = {}
        self.events: list[JSON] = []
        self.created_pods: list[JSON] = []  # request bodies, as posted
        self.history: list[Pod] = []  # every pod ever created, deleted ones too
        self.extra_env, self.pending_seconds = extra_env, pending_seconds
        self.workdirs = tempfile.mkdtemp(prefix="loopback-pods-")
        self._versions = itertools.count(1)
        self.version = "0"
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()

    def touch(self, obj: JSON | None = None) -> None:
        """A new resourceVersion (stamped on `obj`, if given); wakes log followers and watchers."""
        self.version = str(next(self._versions))
        if obj is not None:
            obj["metadata"]["resourceVersion"] = self.version
        self.changed.set()
        self.changed = asyncio.Event()

    def _new_object(self, kind: str, namespace: str, body: JSON, store: dict[Any, Any]) -> JSON:
        metadata: JSON = copy.deepcopy(body.get("metadata") or {})
        if metadata.setdefault("namespace", namespace) != namespace:
            message = "the namespace of the provided object does not match the namespace sent on the request"
            raise ApiError(400, "BadRequest", message)
        if not metadata.get("name") and not metadata.get("generateName"):
            raise ApiError(422, "Invalid", f"{kind} metadata.name: Required value: name is required")
        if not metadata.get("name"):
            metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
        if (namespace, metadata["name"]) in store:
            raise ApiError(409, "AlreadyExists", f'{kind.lower()}s "{metadata["name"]}" already exists')
        metadata.update(uid=str(uuid.uuid4()), creationTimestamp=rfc3339())
        return {"apiVersion": "v1", "kind": kind, "metadata": metadata}

    def create_secret(self, namespace: str, body: JSON) -> JSON:
        secret = self._new_object("Secret", namespace, body, self.secrets)
        data = dict(body.get("data") or {})
        for key, text in (body.get("stringData") or {}).items():  # the API folds stringData in
            data[key] = base64.b64encode(str(text).encode()).decode()
        secret.update(data=data, type=body.get("type", "Opaque"))
        self.secrets[namespace, secret["metadata"]["name"]] = secret
        self.touch(secret)
        return secret

    def get_secret(self, namespace: str, name: str) -> JSON:
        if (namespace, name) not in self.secrets:
            raise not_found("secrets", name)
        return self.secrets[namespace, name]

    def get_pod(self, namespace: str, name: str) -> Pod:
        if (namespace, name) not in self.pods:
            raise not_found("pods", name)
        return self.pods[namespace, name]

    def create_pod(self, namespace: str, body: JSON) -> JSON:
        obj = self._new_object("Pod", namespace, body, self.pods)
        obj["spec"] = spec = copy.deepcopy(body.get("spec") or {})
        containers = spec.get("containers") or []
        if len(containers) != 1 or spec.get("initContainers"):
            message = "spec.containers: this test server runs exactly one container, no initContainers"
            raise ApiError(422, "Invalid", message)
        if not containers[0].get("image"):
            raise ApiError(422, "Invalid", "spec.containers[0].image: Required value")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        self.created_pods.append(copy.deepcopy(body))
        pod = self.pods[namespace, obj["metadata"]["name"]] = Pod(obj)
        self.history.append(pod)
        self.touch(obj)
        pod.task = asyncio.get_running_loop().create_task(self._run(pod))
        return obj

    def delete_pod(self, namespace: str, name: str, grace_seconds: int | None) -> JSON:
        """Graceful deletion: SIGTERM, SIGKILL after the grace period; the object goes away once
        the container has ended."""
        pod = self.get_pod(namespace, name)
        if not pod.deleting:
            grace = pod.obj["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
            grace = int(grace if grace_seconds is None else grace_seconds)
            pod.obj["metadata"].update(deletionTimestamp=rfc3339(), deletionGracePeriodSeconds=grace)
            self.touch(pod.obj)
            if pod.process is not None and not pod.finished:
                self._event(pod, "Killing", f"Stopping container {pod.container['name']}")
                self._stop_container(pod, grace)
        if pod.process is None or pod.finished:
            self._remove(pod)
        return pod.obj

    def _remove(self, pod: Pod) -> None:
        if self.pods.get(pod.key) is pod:
            del self.pods[pod.key]
            self.touch()

    def _stop_container(self, pod: Pod, grace: int) -> None:
        process = pod.process
        if process is None or process.returncode is not None:
            return
        _signal_group(process.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        if grace > 0:

            def kill() -> None:
                if process.returncode is None:
                    _signal_group(process.pid, signal.SIGKILL)

            asyncio.get_running_loop().call_later(grace, kill)

    def _event(self, pod: Pod, reason: str, message: str, kind: str = "Normal") -> None:
        (namespace, name), now = pod.key, rfc3339()
        source = "default-scheduler" if reason == "Scheduled" else "kubelet"
        involved = {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name}
        involved |= {
            "uid": pod.obj["metadata"]["uid"],
            "resourceVersion": pod.obj["metadata"]["resourceVersion"],
        }
        if source == "kubelet":
            involved["fieldPath"] = f"spec.containers{{{pod.container['name']}}}"
        event: JSON = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{name}.{uuid.uuid4().hex[:16]}",
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": kind,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": source, "host": NODE},
            "reportingComponent": source,
        }
        self.events.append(event)
        self.touch(event)

    async def _run(self, pod: Pod) -> None:
        """Schedule the pod, start its container as a process group, and record how it ends."""
        container = pod.container
        pod.obj["spec"]["nodeName"] = NODE
        self._set_status(pod, "Pending", {"waiting": {"reason": "ContainerCreating"}})
        self._event(pod, "Scheduled", f"Successfully assigned {'/'.join(pod.key)} to {NODE}")
        if (deadline := pod.obj["spec"].get("activeDeadlineSeconds")) is not None:
            asyncio.get_running_loop().call_later(float(deadline), self._deadline_exceeded, pod)
        try:
            env = self._container_env(pod)
        except ApiError as error:
            waiting = {"reason": "CreateContainerConfigError", "message": error.message}
            self._set_status(pod, "Pending", {"waiting": waiting})
            self._event(pod, "Failed", f"Error: {error.message}", "Warning")
            return
        with contextlib.suppress(TimeoutError):  # pulling the image, creating the container
            await asyncio.wait_for(self.closed.wait(), self.pending_seconds)
        if pod.finished or pod.deleting or self.closed.is_set():
            return
        argv = [expand_references(str(a), env) for a in container.get("command") or []]
        argv += [expand_references(str(a), env) for a in container.get("args") or []]
        try:
            if not argv:
                raise ValueError("no command specified")
            pod.process = process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,  # one log stream, as the container runtime keeps
                cwd=tempfile.mkdtemp(prefix=f"{pod.key[1]}-", dir=self.workdirs),
                env={**os.environ, **self.extra_env, "HOSTNAME": pod.key[1], **env},
                start_new_session=True,
            )
        except (OSError, ValueError) as error:
            self._terminate(pod, 128, "StartError", str(error))
            return
        started = rfc3339()
        self._set_status(pod, "Running", {"running": {"startedAt": started}})
        self._event(pod, "Started", f"Started container {container['name']}")
        if self.closed.is_set():  # the server stopped while the process was being started
            self._stop_container(pod, 0)
        elif pod.deleting:
            self._stop_container(pod, int(pod.obj["metadata"]["deletionGracePeriodSeconds"]))
        assert process.stdout is not None
        reader = asyncio.create_task(self._read_output(pod, process.stdout))
        code = await process.wait()
        _signal_group(process.pid, signal.SIGKILL)  # the container ends with its main process
        await reader
        code = code if code >= 0 else 128 - code
        self._terminate(pod, code, "Completed" if code == 0 else "Error", started_at=started)

    async def _read_output(self, pod: Pod, stream: asyncio.StreamReader) -> None:
        partial = b""
        while chunk := await stream.read(65536):
            stamp = time.time_ns()
            *lines, partial = (partial + chunk).split(b"\n")
            pod.log.extend((stamp, line + b"\n") for line in lines)
            self.touch()
        if partial:
            pod.log.append((time.time_ns(), partial))

    def _container_env(self, pod: Pod) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in pod.container.get("envFrom") or []:
            if ref := source.get("secretRef"):
                data = self._secret_data(pod.key[0], ref["name"], bool(ref.get("optional")))
                env.update({source.get("prefix", "") + key: value for key, value in data.items()})
        for var in pod.container.get("env") or []:
            value_from = var.get("valueFrom") or {}
            if ref := value_from.get("secretKeyRef"):
                data = self._secret_data(pod.key[0], ref["name"], bool(ref.get("optional")))
                if ref["key"] not in data and not ref.get("optional"):
                    raise ApiError(400, "Invalid", f"couldn't find key {ref['key']} in Secret {ref['name']}")
                env.update({var["name"]: data[ref["key"]]} if ref["key"] in data else {})
            elif ref := value_from.get("fieldRef"):
                env[var["name"]] = str(field_value(pod.obj, ref["fieldPath"]) or "")
            else:
                env[var["name"]] = expand_references(str(var.get("value") or ""), env)
        return env

    def _secret_data(self, namespace: str, name: str, optional: bool) -> dict[str, str]:
        secret = self.secrets.get((namespace, name))
        if secret is None and not optional:
            raise ApiError(400, "Invalid", f'secret "{name}" not found')
        data = (secret or {}).get("data") or {}
        return {key: base64.b64decode(value).decode(errors="replace") for key, value in data.items()}

    def _deadline_exceeded(self, pod: Pod) -> None:
        if pod.finished or self.pods.get(pod.key) is not pod:
            return
        pod.obj["status"].update(reason="DeadlineExceeded", message=DEADLINE_MESSAGE)
        self._event(pod, "DeadlineExceeded", DEADLINE_MESSAGE, "Warning")
        if pod.process is None:
            self._terminate(pod, 137, "Error", DEADLINE_MESSAGE)
        else:
            self._stop_container(
                pod, pod.obj["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
            )

    def _terminate(self, pod: Pod, code: int, reason: str, message: str = "", started_at: str = "") -> None:
        terminated: JSON = {"exitCode": code, "reason": reason, "finishedAt": rfc3339()}
        terminated["startedAt"] = started_at or terminated["finishedAt"]
        if not message and code and pod.container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            message = b"".join(line for _, line in pod.log[-80:])[-2048:].decode(errors="replace")
        terminated.update({"message": message} if message else {})
        failed = code != 0 or "reason" in pod.obj["status"]
        self._set_status(pod, "Failed" if failed else "Succeeded", {"terminated": terminated})
        pod.finished = True
        self.touch()
        if pod.deleting:
            self._remove(pod)

    def _set_status(self, pod: Pod, phase: str, state: JSON) -> None:
        status, now, ready = pod.obj["status"], rfc3339(), "running" in state
        status.setdefault("startTime", now)
        status.update(phase=phase, hostIP=NODE_IP, podIP=NODE_IP, podIPs=[{"ip": NODE_IP}])
        why = {"Succeeded": "PodCompleted", "Failed": "PodFailed"}.get(phase, "ContainersNotReady")
        conditions = [
            ("PodScheduled", True),
            ("Initialized", True),
            ("ContainersReady", ready),
            ("Ready", ready),
        ]
        status["conditions"] = [
            {"type": kind, "status": str(value), "lastProbeTime": None, "lastTransitionTime": now}
            | ({} if value else {"reason": why})
            for kind, value in conditions
        ]
        container = pod.container
        container_status = {"name": container["name"], "state": state, "lastState": {}, "ready": ready}
        container_status.update(restartCount=0, started=ready, image=container["image"], imageID="")
        if pod.process is not None:
            container_status["containerID"] = f"process://{pod.process.pid}"
        status["containerStatuses"] = [container_status]
        self.touch(pod.obj)

    async def shutdown(self) -> None:
        """Kill every pod process group still running, wait for the pods, remove their folders."""
        self.closed.set()
        for pod in self.history:
            if pod.process is not None and pod.process.returncode is None:
                _signal_group(pod.process.pid, signal.SIGKILL)
        tasks = [pod.task for pod in self.history if pod.task is not None and not pod.task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        shutil.rmtree(self.workdirs, ignore_errors=True)
