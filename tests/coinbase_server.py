"""A local stand-in for the Coinbase Exchange WebSocket feed that plays back a capture."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from websockets.sync.server import ServerConnection, serve

CAPTURE = Path(__file__).parent / "data" / "coinbase_ticker_capture.ndjson"


def capture_messages() -> list[str]:
    """The raw channel messages of the capture (wrappers unwrapped)."""
    messages = []
    for line in CAPTURE.read_text().splitlines():
        document = json.loads(line)
        messages.append(document["raw"] if "raw" in document else line)
    return messages


Script = Callable[[int, ServerConnection], None]


@contextmanager
def feed(script: Script) -> Iterator[tuple[str, list[dict[str, object]]]]:
    """Serve ``script(number, connection)``; yields the URL and the subscriptions seen."""
    subscriptions: list[dict[str, object]] = []
    connections = [0]

    def handler(connection: ServerConnection) -> None:
        subscriptions.append(json.loads(connection.recv(timeout=5)))
        connections[0] += 1
        script(connections[0], connection)

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        host, port = server.socket.getsockname()[:2]
        try:
            yield f"ws://{host}:{port}", subscriptions
        finally:
            server.shutdown()
            thread.join(5)
