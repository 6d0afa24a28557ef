"""A TCP proxy on 127.0.0.1 that a test can black-hole: a replica cut off from its store.

Everything the proxy forwards goes to one upstream address (DynamoDB Local,
say). :meth:`BlackHoleProxy.cut` makes it a black hole: connections stay open
and new ones are accepted, but no byte passes either way, so the client sees
what a network partition looks like (timeouts), not a refused connection.
:meth:`BlackHoleProxy.restore` closes the connections that were black-holed
(their requests are lost, as after a partition) and forwards new ones again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

__all__ = ["BlackHoleProxy", "blackhole_proxy"]


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    dead: bool = False

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.close()


class BlackHoleProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.is_cut = False
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        """From now on, nothing passes: every open and new connection is a black hole."""
        self.is_cut = True
        for link in self._links:
            link.dead = True

    def restore(self) -> None:
        """Close the black-holed connections and forward new ones again."""
        self.is_cut = False
        for link in [link for link in self._links if link.dead]:
            link.close()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(writer, dead=self.is_cut)
        self._links.add(link)
        try:
            up_reader, link.upstream = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(
                self._pipe(reader, link.upstream, link), self._pipe(up_reader, writer, link)
            )
        except (OSError, asyncio.CancelledError):
            pass  # the proxy is closing, or a side hung up
        finally:
            self._links.discard(link)
            link.close()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65_536):
                if self.is_cut or link.dead:
                    link.dead = True
                    continue  # swallowed: a partition answers nothing
                sink.write(data)
                await sink.drain()
        link.close()


@contextlib.asynccontextmanager
async def blackhole_proxy(endpoint: str) -> AsyncIterator[BlackHoleProxy]:
    """A started proxy to ``endpoint`` (``http://host:port``), closed on exit."""
    host, _, port = endpoint.removeprefix("http://").rpartition(":")
    proxy = BlackHoleProxy(host, int(port))
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.aclose()
