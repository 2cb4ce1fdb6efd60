"""The first thing a step's pod runs: fetch the flow's code package and the task's values, then
run the step.

Sent as the source of `python -c` (the pod has Python and Metaflow, not this provider), with one
JSON argument: {"flow": NAME, "package": {"sha", "metadata", ...}, "launch": SHA, "argv": [...],
"adapter": SOURCE}. The worker's probe builds it (see probe.py). `adapter` is the source of
metaflow_adapter.py, loaded here as a module, so every Metaflow internal stays in that one file.
The program downloads the code package that `airflow create` stored in the flow's datastore
(content-addressed, checked against its SHA-1), unpacks it with Metaflow's own extract
commands, fetches the launch blob (the task's files and the variables kept out of the pod spec:
Parameters, Config values, the production token), and runs the step command from the unpacked
folder. The step's output goes to two files, which this process copies to the container's stdout
and stderr as it comes (so Kubernetes and Airflow see it live) and which the step saves as its
Metaflow task logs when it exits. SIGTERM from Kubernetes (a deleted pod) is passed on to the
step, which records the attempt as failed. Exits with the step's exit code.

Standard library only at module level; the worker never imports this module, it reads its text.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from typing import Any

ADAPTER_MODULE = "airflow_provider_metaflow_pod_adapter"
# Where the step's decorator finds its output files (contract.ENV_STDOUT_FILE / ENV_STDERR_FILE).
STDOUT_FILE_ENV = "METAFLOW_AIRFLOW_STDOUT_FILE"
STDERR_FILE_ENV = "METAFLOW_AIRFLOW_STDERR_FILE"


def load_adapter(source: str) -> Any:
    """metaflow_adapter.py as a module, from the source the worker sent."""
    module = types.ModuleType(ADAPTER_MODULE)
    sys.modules[ADAPTER_MODULE] = module
    exec(compile(source, "metaflow_adapter.py", "exec"), module.__dict__)  # noqa: S102 - our own module
    return module


def run(argv: list[str], env: dict[str, str]) -> int:
    outputs = {"stdout": os.path.abspath("step-stdout.log"), "stderr": os.path.abspath("step-stderr.log")}
    env[STDOUT_FILE_ENV] = outputs["stdout"]
    env[STDERR_FILE_ENV] = outputs["stderr"]
    with open(outputs["stdout"], "ab") as out, open(outputs["stderr"], "ab") as err:
        step = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)  # noqa: S603
    signal.signal(signal.SIGTERM, lambda signum, frame: step.send_signal(signal.SIGTERM))
    readers = {name: open(path, "rb") for name, path in outputs.items()}  # noqa: SIM115
    targets = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    while True:
        done = step.poll() is not None
        for name, reader in readers.items():
            chunk = reader.read()
            if chunk:
                targets[name].write(chunk)
                targets[name].flush()
        if done:
            return step.returncode
        time.sleep(0.1)


def main() -> None:
    spec = json.loads(sys.argv[1])
    adapter = load_adapter(spec["adapter"])
    datastore = adapter.configured_flow_datastore(spec["flow"], os.getcwd())
    with open("job.tar", "wb") as handle:
        handle.write(adapter.load_blob(datastore, spec["package"]["sha"]))
    env = adapter.unpack_code_package("job.tar", spec["package"]["metadata"], os.getcwd(), os.environ)
    launch = json.loads(adapter.load_blob(datastore, spec["launch"]))
    os.makedirs(".metaflow", exist_ok=True)  # local metadata stays in this folder, synced at the end
    for name, content in launch["files"].items():
        with open(name, "w", encoding="utf-8") as handle:
            handle.write(content)
    sys.exit(run(spec["argv"], {**env, **launch["env"]}))


if __name__ == "__main__":
    main()
