"""The first thing a step's pod runs: fetch the flow's code package, then run the step.

Sent as the source of `python -c` (the pod has Python and Metaflow, not this provider), with one
JSON argument: {"flow": NAME, "package": {"sha": ..., "metadata": ...}, "argv": [...],
"files": {name: content}}. It
downloads the package that `airflow create` stored in the flow's datastore (Metaflow's
content-addressed store, keyed by the blob's SHA-1), checks that hash, unpacks it with Metaflow's
own extract commands and environment, and runs the step command from the unpacked folder. The
step's output goes to two files, which this process copies to the container's stdout and stderr
as it comes (so Kubernetes and Airflow see it live) and which the step saves as its Metaflow task
logs when it exits. SIGTERM from Kubernetes (a deleted pod) is passed on to the step, which
records the attempt as failed. Exits with the step's exit code.

Airflow-side code reads this file as text; it is never imported there.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time


def download(flow_name: str, sha: str) -> bytes:
    from metaflow.datastore import FlowDataStore
    from metaflow.metaflow_config import DEFAULT_DATASTORE
    from metaflow.plugins import DATASTORES

    storage = [impl for impl in DATASTORES if impl.TYPE == DEFAULT_DATASTORE][0]
    root = storage.get_datastore_root_from_config(print)
    datastore = FlowDataStore(flow_name, None, storage_impl=storage, ds_root=root)
    for _key, blob in datastore.load_data([sha], force_raw=True):
        if hashlib.sha1(blob).hexdigest() != sha:
            raise SystemExit(f"The code package in the datastore does not hash to {sha}: not running it.")
        return bytes(blob)
    raise SystemExit(f"No code package {sha} in the {DEFAULT_DATASTORE} datastore at {root}.")


def unpack(blob: bytes, metadata: str) -> dict[str, str]:
    from metaflow.package import MetaflowPackage

    with open("job.tar", "wb") as handle:
        handle.write(blob)
    for command in MetaflowPackage.get_extract_commands(metadata, "job.tar", dest_dir="."):
        subprocess.run(command, shell=isinstance(command, str), check=True)  # noqa: S602 - Metaflow's own
    env = dict(os.environ)
    for name, value in MetaflowPackage.get_post_extract_env_vars(metadata, dest_dir=os.getcwd()).items():
        if name.endswith(":"):
            env[name[:-1]] = value
        else:
            env[name] = value + (":" + env[name] if env.get(name) else "")
    return env


def run(argv: list[str], env: dict[str, str]) -> int:
    outputs = {"stdout": os.path.abspath("step-stdout.log"), "stderr": os.path.abspath("step-stderr.log")}
    env["METAFLOW_AIRFLOW_STDOUT_FILE"] = outputs["stdout"]
    env["METAFLOW_AIRFLOW_STDERR_FILE"] = outputs["stderr"]
    with open(outputs["stdout"], "ab") as out, open(outputs["stderr"], "ab") as err:
        step = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
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
    blob = download(spec["flow"], spec["package"]["sha"])
    env = unpack(blob, spec["package"]["metadata"])
    os.makedirs(".metaflow", exist_ok=True)  # local metadata stays in this folder, synced at the end
    for name, content in spec.get("files", {}).items():
        with open(name, "w", encoding="utf-8") as handle:
            handle.write(content)
    sys.exit(run(spec["argv"], env))


if __name__ == "__main__":
    main()
