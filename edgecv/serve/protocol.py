"""Connections that cannot take the service down: timeouts and connection limits under uvicorn.

uvicorn alone keeps a connection that never sends a byte open forever, answers every request with 503 once
``limit_concurrency`` connections are open (130 idle sockets were enough to make ``/healthz`` fail), and reads a
chunked body that never ends for as long as it trickles. edgecv runs uvicorn's h11 protocol with a guard:

- **connection limits**: at most ``max_connections`` open connections, and ``max_connections_per_client`` from
  one address; one more is refused at the socket (reset before a byte is read), so requests on the connections
  already open, ``/healthz`` included, are still answered;
- **header timeout**: a connection must deliver a complete request head within ``header_timeout`` seconds of
  opening, or of the end of its previous response (idle sockets, one header line a second, a keep-alive that
  trickles bytes), else it is closed;
- **body timeout**: a request body (fixed length or chunked) must arrive whole within ``body_timeout`` seconds of
  its head, else the request is answered 408 and the connection closed;
- **keep-alive**: an idle connection after a response is closed after ``keep_alive`` seconds (uvicorn's timer).

Responses being sent (MJPEG streams, slow detects) are not timed here. Deadlines are checked by one timer per
server every 0.25 s: no per-connection tasks.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Set, Type

log = logging.getLogger(__name__)

SWEEP_SECONDS = 0.25


@dataclass(frozen=True)
class ConnectionLimits:
    """Limits on the connections of one service (seconds and counts; see the module docstring)."""

    max_connections: int = 512
    max_connections_per_client: int = 64
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive: float = 5.0


class ConnectionGuard:
    """The books of one server: open connections per client and the deadline sweep."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.live: Set[Any] = set()
        self.per_client: Dict[str, int] = collections.Counter()
        self.refused = 0
        self.timed_out = 0
        self._sweeping = False

    def admit(self, protocol: Any, client: str) -> bool:
        if len(self.live) >= self.limits.max_connections or \
                self.per_client[client] >= self.limits.max_connections_per_client:
            self.refused += 1
            return False
        self.live.add(protocol)
        self.per_client[client] += 1
        if not self._sweeping:
            self._sweeping = True
            asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)
        return True

    def release(self, protocol: Any, client: str) -> None:
        if protocol in self.live:
            self.live.discard(protocol)
            self.per_client[client] -= 1
            if self.per_client[client] <= 0:
                del self.per_client[client]

    def _sweep(self) -> None:
        now = time.monotonic()
        for protocol in list(self.live):
            try:
                protocol.check_deadlines(now)
            except Exception:
                log.debug("deadline check failed", exc_info=True)
        if self.live:
            asyncio.get_running_loop().call_later(SWEEP_SECONDS, self._sweep)
        else:
            self._sweeping = False


def guarded_protocol(limits: ConnectionLimits) -> Type[Any]:
    """An uvicorn h11 protocol class bound to one ConnectionGuard (``uvicorn.Config(http=...)``)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    guard = ConnectionGuard(limits)

    class GuardedH11Protocol(H11Protocol):
        """uvicorn's h11 protocol with edgecv's connection limits and request timeouts."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            peer = transport.get_extra_info("peername")
            self._client = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else "?"
            self._admitted = guard.admit(self, self._client)
            if not self._admitted:
                transport.abort()  # refused at the socket: nothing is read or answered
                return
            self._waiting_since: Optional[float] = time.monotonic()  # for a request head
            self._body_since: Optional[float] = None
            super().connection_made(transport)

        def connection_lost(self, exc: Optional[Exception]) -> None:
            if not self._admitted:
                return
            guard.release(self, self._client)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            before = self.conn.their_state
            super().data_received(data)
            if before is h11.IDLE and self.conn.their_state is not h11.IDLE:  # a request head arrived
                self._waiting_since = None
                self._body_since = time.monotonic() if self.conn.their_state is h11.SEND_BODY else None
            elif self._body_since is not None and self.conn.their_state is not h11.SEND_BODY:
                self._body_since = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.conn.their_state is h11.IDLE:
                self._waiting_since = time.monotonic()

        def check_deadlines(self, now: float) -> None:
            if self.transport is None or self.transport.is_closing():
                return
            if self._waiting_since is not None and self.conn.their_state is h11.IDLE \
                    and now - self._waiting_since > guard.limits.header_timeout:
                guard.timed_out += 1
                self._waiting_since = None
                self.transport.close()
            elif self._body_since is not None and self.conn.their_state is h11.SEND_BODY \
                    and now - self._body_since > guard.limits.body_timeout:
                guard.timed_out += 1
                self._body_since = None
                self._answer_408()

        def _answer_408(self) -> None:
            """408 when no response has started, then close (the app sees the client leave)."""
            try:
                if self.conn.our_state is h11.SEND_RESPONSE:
                    body = b'{"error":"RequestTimeout","message":"the request body did not arrive in time"}'
                    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                               (b"connection", b"close")]
                    for event in (h11.Response(status_code=408, reason=b"Request Timeout", headers=headers),
                                  h11.Data(data=body), h11.EndOfMessage()):
                        self.transport.write(self.conn.send(event))
            except h11.LocalProtocolError:
                pass
            self.transport.close()

    GuardedH11Protocol.guard = guard  # type: ignore[attr-defined]
    return GuardedH11Protocol


__all__ = ["ConnectionLimits", "ConnectionGuard", "guarded_protocol"]
