"""A lean Socket.IO dashboard for load tests: Engine.IO v4 over a raw websocket, no framework.

python-socketio's AsyncClient spends ~130 us of CPU per received event on this machine, so
500 of them at 20 events/s need more than a core: on a 2-core machine the clients, not the
server, set the latency. This client does what a dashboard must and nothing more: the
websocket upgrade, the Engine.IO open packet, the Socket.IO connect with `auth`, answering
pings, and decoding each event's JSON. Many of them share one `selectors` loop per process
(see `push_latency.py`), at less than half of AsyncClient's cost per event (~60 us here,
most of it the kernel's recv).

Only what Flask-SocketIO's server sends is handled: text frames (fragmented or not), ping
and close frames; the default namespace; no binary events.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import struct
from typing import Any

UPGRADE_PATH = "/socket.io/?EIO=4&transport=websocket"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeError(ConnectionError):
    """The server refused the upgrade or the Socket.IO connect."""


def _frame(opcode: int, payload: bytes) -> bytes:
    """One client-to-server websocket frame (clients must mask)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


class LeanDashboard:
    """One dashboard's connection: connect, then `feed()` it what its socket received."""

    def __init__(self, host: str, port: int, token: str, *, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._pending: list[str] = []  # messages that arrived with the handshake's answer
        self.closed = False
        try:
            self._handshake(host, port, token)
        except BaseException:
            self.sock.close()
            raise
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def _handshake(self, host: str, port: int, token: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {UPGRADE_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise HandshakeError("connection closed during the websocket upgrade")
            self._buffer += chunk
        head, _, rest = bytes(self._buffer).partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status_line:
            raise HandshakeError(f"websocket upgrade refused: {status_line!r}")
        self._buffer = bytearray(rest)
        opening = self._next_text()
        if not opening.startswith("0"):
            raise HandshakeError(f"unexpected Engine.IO open packet {opening[:60]!r}")
        self.send_text("40" + json.dumps({"token": token}))
        while True:
            answer = self._next_text()
            if answer == "2":  # a ping before the namespace answer
                self.send_text("3")
                continue
            if answer.startswith("40"):
                return
            raise HandshakeError(f"Socket.IO connect refused: {answer[:200]!r}")

    def _next_text(self) -> str:
        """Block until one text message is complete (handshake only)."""
        while True:
            self._pending += self._parse()
            if self._pending:
                return self._pending.pop(0)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise HandshakeError("connection closed during the Socket.IO handshake")
            self._buffer += chunk

    def send_text(self, text: str) -> None:
        """Send one text frame."""
        self._send(_frame(OP_TEXT, text.encode()))

    def _send(self, data: bytes) -> None:
        # Only small control messages are sent (connect, pongs): wait for them, briefly.
        mode = self.sock.gettimeout()
        self.sock.settimeout(10)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.settimeout(mode)

    def feed(self, data: bytes) -> list[str]:
        """Take what the socket received; answer pings; return the complete Socket.IO events.

        Each returned string is a Socket.IO EVENT packet body (the JSON after "42").
        """
        self._buffer += data
        events = []
        messages, self._pending = self._pending + self._parse(), []
        for message in messages:
            if message.startswith("42"):
                events.append(message[2:])
            elif message == "2":
                self.send_text("3")
            elif message.startswith(("1", "41")):
                self.closed = True
        return events

    def _parse(self) -> list[str]:
        """Complete text messages at the front of the buffer (answers websocket pings)."""
        messages: list[str] = []
        buffer = self._buffer
        offset = 0
        while len(buffer) - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length = second & 0x7F
            start = offset + 2
            if length == 126:
                if len(buffer) - start < 2:
                    break
                (length,) = struct.unpack_from("!H", buffer, start)
                start += 2
            elif length == 127:
                if len(buffer) - start < 8:
                    break
                (length,) = struct.unpack_from("!Q", buffer, start)
                start += 8
            if second & 0x80:  # a server must not mask; skip the key if one does
                start += 4
            end = start + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[start:end])
            offset = end
            opcode = first & 0x0F
            if opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
                self._fragments.append(payload)
                if first & 0x80:  # FIN
                    whole = b"".join(self._fragments)
                    self._fragments.clear()
                    if opcode != OP_BINARY:
                        messages.append(whole.decode())
            elif opcode == OP_PING:
                self._send(_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self.closed = True
        if offset:
            del buffer[:offset]
        return messages

    def close(self) -> None:
        """Close the socket (the server sees the dashboard leave)."""
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


def decode_event(body: str) -> tuple[str, Any]:
    """The name and first argument of a Socket.IO event body (`["name", {...}]`)."""
    name, payload = json.loads(body)[:2]
    return str(name), payload
