"""A TCP proxy on 127.0.0.1 that misbehaves on purpose, in front of a real server.

`faulty(n, path)` decides, for the n-th accepted connection (from 1) and the path of the
request it is answering, whether the response is disturbed: each chunk from the server is
held back `delay_s` and the connection is cut once it has carried `cut_after_bytes` bytes
from the server (mid-response: mid-listing or mid-download for S3). E.g. "the first 4
connections" lets a client that retries get through; "every download" is S3 going down
after the listing. Every cut records the request path the server was answering, so a test
can check which requests the faults actually hit.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Self

_REQUEST_LINE = re.compile(rb"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP/1\.[01]\r\n")


class FaultProxy:
    def __init__(
        self,
        target_port: int,
        *,
        faulty: Callable[[int, str], bool],
        cut_after_bytes: int | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.target_port = target_port
        self.faulty = faulty
        self.cut_after_bytes = cut_after_bytes
        self.delay_s = delay_s
        self.accepted = 0
        self.cuts: list[str] = []  # the request line each cut connection was answering
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            sockets = [self._listener, *self._sockets]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                number = self.accepted
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            requests: list[str] = []
            threading.Thread(
                target=self._upstream, args=(client, server, requests), daemon=True
            ).start()
            threading.Thread(
                target=self._downstream, args=(server, client, requests, number), daemon=True
            ).start()

    def _upstream(self, client: socket.socket, server: socket.socket, requests: list[str]) -> None:
        """Client → server, untouched; remembers the request lines (path only)."""
        with contextlib.suppress(OSError):
            while chunk := client.recv(65536):
                requests.extend(m.group(2).decode() for m in _REQUEST_LINE.finditer(chunk))
                server.sendall(chunk)
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_WR)

    def _downstream(
        self, server: socket.socket, client: socket.socket, requests: list[str], number: int
    ) -> None:
        """Server → client: delayed and cut while answering a faulty request."""
        sent = 0
        limit = self.cut_after_bytes
        try:
            while chunk := server.recv(4096):
                path = requests[-1] if requests else ""
                faulty = self.faulty(number, path)
                if faulty and self.delay_s:
                    time.sleep(self.delay_s)
                if faulty and limit is not None and sent + len(chunk) >= limit:
                    client.sendall(chunk[: max(0, limit - sent)])
                    with self._lock:
                        self.cuts.append(path)
                    break
                client.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        for sock in (client, server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
