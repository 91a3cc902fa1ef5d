"""A TCP relay on loopback that adds a round-trip time, for benchmarks.

    client ──> 127.0.0.1:<port> (this relay) ──> upstream (the stand-in)

It forwards bytes unchanged (TLS stays end to end: the relay never sees a
plaintext byte) and delays each direction by half the round-trip time,
in order. A real TCP connection costs one round trip before the client can
send anything (SYN, SYN-ACK); the kernel here answers a loopback SYN at
once, so the relay charges that round trip to what the client sends before
the server's first byte reaches it (its first flight, such as a TLS
ClientHello): those bytes reach the server one and a half round trips after
they were written, as they would on a real link where connect() had taken a
round trip first. Whatever the client does between connect() and its first
write (making a TLS context, say) is counted in full, as it would be there.
Every other byte takes half a round trip each way.

What it cannot imitate: the relay's own kernel acknowledges each segment
at once (loopback), so Nagle's algorithm at either end never waits a round
trip for an ACK as it would on a real link. A client that writes one request
in several small pieces without TCP_NODELAY would pay for that there and
not here; ``Link.flights`` records how many separate pieces each direction
arrived in, so that such a pattern still shows.

It is meant for a few small exchanges: what is in flight is buffered
without limit. It counts the connections it accepted (``connections``), which is how the
benchmark tells how many TCP connections a client opened. It runs on one
asyncio loop in a daemon thread: nothing polls, every wait is a timer or a
socket. ``stop()`` (or leaving a ``with`` block) closes every connection
and ends the thread; as a command it also stops by itself after
``--idle-exit`` seconds without a connection.

    python benchmarks/delay_link.py --to 127.0.0.1:8443 --rtt-ms 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

_CHUNK = 64 * 1024
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


@dataclass
class Link:
    """One relayed connection: when it was accepted, and how its bytes went."""

    opened: float                       # time.monotonic() at accept
    answered: bool = False              # a server byte has reached the client
    bytes_up: int = 0                   # client to server
    bytes_down: int = 0                 # server to client
    flights: dict[str, list[float]] = field(default_factory=lambda: {"up": [], "down": []})


class DelayLink:
    """A relay from 127.0.0.1:<port> to ``upstream`` with ``rtt_ms`` of round trip.

    ``handshake_rtt`` charges one round trip to what the client sends before
    the server's first byte reaches it (the TCP handshake the loopback
    kernel skips).
    """

    def __init__(self, upstream: tuple[str, int], rtt_ms: float, *,
                 handshake_rtt: bool = True) -> None:
        host = upstream[0]
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise ValueError("the relay forwards to loopback addresses only")
        if rtt_ms < 0:
            raise ValueError("the round-trip time cannot be negative")
        self.upstream = upstream
        self.one_way = rtt_ms / 2000.0
        self.handshake_rtt = handshake_rtt
        self.links: list[Link] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    # Lifecycle.

    @property
    def connections(self) -> int:
        return len(self.links)

    def reset(self) -> None:
        """Forget the connections counted so far (between two benchmarked runs)."""
        self.links = []

    def start(self) -> DelayLink:
        self._thread = threading.Thread(target=self._run, name="delay-link", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._failure is not None:
            raise self._failure
        if not self.port:
            raise RuntimeError("the relay did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop has already stopped
                loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._shutdown()))
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> DelayLink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # reported to start()
            self._failure = error
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopped.wait()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._stopped.set()

    # One connection.

    async def _accept(self, client_in: asyncio.StreamReader,
                      client_out: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        link = Link(opened=time.monotonic())
        self.links.append(link)
        server_out: asyncio.StreamWriter | None = None
        try:
            server_in, server_out = await asyncio.open_connection(*self.upstream)
            for writer in (client_out, server_out):
                sock = writer.get_extra_info("socket")
                # The relay adds its delay and nothing else: its own writes go out at once.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client_sock = client_out.get_extra_info("socket")
            server_sock = server_out.get_extra_info("socket")
            pumps = [asyncio.ensure_future(self._pump(client_in, client_sock, server_out, link,
                                                      "up")),
                     asyncio.ensure_future(self._pump(server_in, server_sock, client_out, link,
                                                      "down"))]
            try:
                await asyncio.gather(*pumps)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass  # a reset, a refused upstream, or stop(): the connection just ends
        finally:
            for writer in (client_out, server_out):
                if writer is not None:
                    writer.close()
            self._tasks.discard(task)

    async def _pump(self, source: asyncio.StreamReader, source_sock: socket.socket,
                    sink: asyncio.StreamWriter, link: Link, direction: str) -> None:
        """Copy source to sink, each piece written one way's delay after it was read.

        Pieces are queued in arrival order with non-decreasing due times, so
        order is kept; the reader never waits for the writer, as bytes in
        flight on a real link do not wait for earlier ones to land.
        """
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:  # the sender closed its side: pass the half-close on, in order
                    with contextlib.suppress(OSError):
                        if sink.can_write_eof():
                            sink.write_eof()
                    return
                sink.write(data)
                await sink.drain()
                if direction == "down":
                    link.answered = True

        writer = loop.create_task(deliver())
        due = 0.0
        try:
            while True:
                try:
                    data = await source.read(_CHUNK)
                except OSError:
                    data = b""
                if data and _QUICKACK is not None:
                    # Acknowledge what was just read now, not up to 40 ms later
                    # (delayed ACK): a sender whose Nagle algorithm waits for
                    # that ACK (the stand-in writes a reply's headers and body
                    # apart, without TCP_NODELAY) would otherwise stall on the
                    # relay's kernel rather than on the link being imitated.
                    with contextlib.suppress(OSError):
                        source_sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                now = time.monotonic()
                handshake = direction == "up" and self.handshake_rtt and not link.answered
                due = max(due, now + self.one_way + (2 * self.one_way if handshake else 0.0))
                if data:
                    link.flights[direction].append(now - link.opened)
                    if direction == "up":
                        link.bytes_up += len(data)
                    else:
                        link.bytes_down += len(data)
                queue.put_nowait((due, data))
                if not data:
                    break
            await writer
        finally:
            writer.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", required=True, metavar="HOST:PORT",
                        help="where to forward (a loopback address)")
    parser.add_argument("--rtt-ms", type=float, default=100.0, help="round-trip time (default 100)")
    parser.add_argument("--idle-exit", type=float, default=300.0, metavar="SECONDS",
                        help="stop after this long without a new connection (default 300)")
    args = parser.parse_args()
    host, _, port = args.to.rpartition(":")
    with DelayLink((host or "127.0.0.1", int(port)), args.rtt_ms) as relay:
        print(f"relay 127.0.0.1:{relay.port} -> {args.to}, {args.rtt_ms:g} ms round trip",
              flush=True)
        seen, last = 0, time.monotonic()
        try:
            while time.monotonic() - last < args.idle_exit:
                time.sleep(min(1.0, args.idle_exit))
                if relay.connections != seen:
                    seen, last = relay.connections, time.monotonic()
        except KeyboardInterrupt:
            pass
        print(f"{relay.connections} connections relayed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
