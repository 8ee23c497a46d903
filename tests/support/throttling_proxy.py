"""An HTTP proxy in front of DynamoDB (moto) that answers chosen writes as throttled.

moto never throttles. The sink must survive DynamoDB saying ProvisionedThroughputExceeded (the
AWS SDK's own retries, then the sink's), so this proxy answers some requests with exactly the
error DynamoDB sends, and forwards every other request to moto unchanged:

    with ThrottlingProxy(moto_host, moto_port, throttle=lambda op, n: op == "PutItem" and n % 3 == 0) as proxy:
        ...point the job's FloorsTable.aws.endpoint at proxy.url...
    proxy.throttled   # {"PutItem": 17}

`throttle(operation, n)` sees the operation name (from X-Amz-Target) and how many requests of it
came so far (1-based). HTTP/1.1 with keep-alive, one thread per connection.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

THROTTLED = json.dumps({
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded.",
}).encode()
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrottlingProxy:
    def __init__(self, target_host: str, target_port: int, throttle: Callable[[str, int], bool],
                 listen_port: int | None = None):
        self.target = (target_host, target_port)
        self.throttle = throttle
        self.requests: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                with proxy._lock:
                    proxy.requests[operation] += 1
                    throttled = proxy.throttle(operation, proxy.requests[operation])
                    if throttled:
                        proxy.throttled[operation] += 1
                if throttled:
                    self._answer(400, [("Content-Type", "application/x-amz-json-1.0"),
                                       ("x-amzn-ErrorType", "ProvisionedThroughputExceededException")], THROTTLED)
                    return
                upstream = http.client.HTTPConnection(*proxy.target, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    upstream.request("POST", self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    kept = [(k, v) for k, v in response.getheaders()
                            if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"]
                    self._answer(response.status, kept, data)
                finally:
                    upstream.close()

            def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", listen_port or free_port()), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="throttling-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
