"""An S3 endpoint for tests: moto's server on a free loopback port, with one bucket, and the
environment a Metaflow S3 datastore (and plain boto3) needs to use it.

    with S3Server() as s3:
        os.environ.update(s3.env)  # or hand s3.env to the processes that run steps

Other processes (pod processes, Airflow workers) reach it over 127.0.0.1.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # boto3 otherwise asks the EC2 metadata address for credentials and hangs off EC2
    "AWS_EC2_METADATA_DISABLED": "true",
}


class S3Server:
    """moto's threaded server on 127.0.0.1; `start()` creates `bucket`, `stop()` shuts it down."""

    def __init__(self, bucket: str = "metaflow-test", prefix: str = "metaflow") -> None:
        self.bucket, self.prefix = bucket, prefix
        self._server: Any = None
        self.port = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for boto3 and for Metaflow's S3 datastore, pointed at this server."""
        root = f"s3://{self.bucket}/{self.prefix}"
        return {
            **DUMMY_CREDENTIALS,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,  # plain boto3 clients
            "METAFLOW_S3_ENDPOINT_URL": self.endpoint_url,
            "METAFLOW_DEFAULT_DATASTORE": "s3",
            "METAFLOW_DATASTORE_SYSROOT_S3": root,
            "METAFLOW_DATATOOLS_S3ROOT": f"{root}/data",
        }

    def client(self) -> Any:
        """A boto3 S3 client for this server, whatever the calling process's environment."""
        import boto3

        credentials = {
            "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"],
            **credentials,
        )

    def start(self) -> S3Server:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        try:
            self.client().create_bucket(Bucket=self.bucket)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()  # ends serve_forever and joins the server thread
            wsgi_server = getattr(self._server, "_server", None)
            if wsgi_server is not None:
                wsgi_server.server_close()  # moto's stop() leaves the listening socket open
            self._server = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
