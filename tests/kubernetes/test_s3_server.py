"""The moto S3 endpoint on loopback: boto3 and Metaflow's S3 datastore work with the environment
it returns, and stopping it closes the port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_metaflow.testing.s3 import S3Server

FLOW = """
from metaflow import FlowSpec, step


class S3DatastoreFlow(FlowSpec):
    @step
    def start(self):
        self.answer = 42
        self.next(self.end)

    @step
    def end(self):
        print("answer", self.answer)


if __name__ == "__main__":
    S3DatastoreFlow()
"""


def test_boto3_puts_and_gets_objects_with_the_returned_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    with S3Server(bucket="plain-boto3") as s3:
        for name, value in s3.env.items():
            monkeypatch.setenv(name, value)
        client = boto3.client("s3")  # endpoint, region and credentials all from the environment
        client.put_object(Bucket="plain-boto3", Key="greeting.txt", Body=b"hello over loopback")

        body = client.get_object(Bucket="plain-boto3", Key="greeting.txt")["Body"].read()

        assert body == b"hello over loopback"
        assert s3.env["METAFLOW_DATASTORE_SYSROOT_S3"] == "s3://plain-boto3/metaflow"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", s3.port), timeout=2).close()


def test_metaflow_run_stores_artifacts_in_the_s3_datastore(tmp_path: Path) -> None:
    flow_file = tmp_path / "s3_datastore_flow.py"
    flow_file.write_text(FLOW)
    with S3Server() as s3:
        env = {**os.environ, **s3.env, "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(tmp_path)}
        run = subprocess.run(  # noqa: S603 - argv list
            [sys.executable, str(flow_file), "--quiet", "run"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        read_back = textwrap.dedent(
            """
            from metaflow import Flow, namespace
            namespace(None)
            print(Flow("S3DatastoreFlow").latest_run.data.answer)
            """
        )
        client_read = subprocess.run(  # noqa: S603 - argv list
            [sys.executable, "-c", read_back],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        keys = [item["Key"] for item in s3.client().list_objects_v2(Bucket=s3.bucket)["Contents"]]

    assert client_read.stdout.strip() == "42", client_read.stderr
    assert any(key.startswith("metaflow/S3DatastoreFlow/") for key in keys), keys
