"""A real S3-compatible server on loopback for the file tests: moto's standalone server in a subprocess.

Nodes and the platform storage talk to it over HTTP with boto3 (through django-storages), as they would to AWS S3 or
MinIO: nothing in the test process is patched. `enforce_auth=True` starts it with IAM checks on (moto's
INITIAL_NO_AUTH_ACTION_COUNT), so a wrong key is refused the way S3 refuses it; moto serves presigned URLs only with
the checks off, hence two servers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

REGION = "us-east-1"
#: IAM calls the fixture makes before the checks start (create user, put policy, create key).
SETUP_CALLS = 3


@dataclass
class S3Server:
    url: str
    access_key_id: str
    secret_access_key: str
    process: subprocess.Popen

    def client(self, *, secret: str | None = None):
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret or self.secret_access_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def credential_data(self, **extra) -> dict:
        """The data of an `aws` credential for this server."""
        return {
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "region": REGION,
            "endpoint_url": self.url,
            **extra,
        }

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(*, enforce_auth: bool = False) -> S3Server:
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    if enforce_auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_CALLS)
    server_bin = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(server_bin), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    access_key_id, secret = "testing-key", "testing-secret"
    if enforce_auth:
        iam = boto3.session.Session().client(
            "iam", endpoint_url=url, region_name=REGION, aws_access_key_id="setup", aws_secret_access_key="setup"
        )
        iam.create_user(UserName="concertmaster")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="concertmaster", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="concertmaster")["AccessKey"]
        access_key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]
    return S3Server(url=url, access_key_id=access_key_id, secret_access_key=secret, process=process)
