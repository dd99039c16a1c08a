"""A small HTTP/1.1 client for the providers' streaming POSTs, on asyncio streams.

Why not httpx here: a streamed chat completion through httpx → httpcore → h11 cost ~3.8 ms of
CPU per 20-token answer in our load bench (a quarter of a whole chat turn); this client reads
whatever the socket has and parses the chunked framing and SSE lines from one buffer (see
bench/PERF-LOG.md). httpx stays for everything that is not a hot path (Teams).

What it does: http and https (TLS verified by default), keep-alive pooling per origin (a
reused connection that the server closed meanwhile is retried once on a fresh one), a
Content-Length, chunked or close-delimited body, per-read timeouts, and the `HTTPS_PROXY` /
`HTTP_PROXY` / `NO_PROXY` environment like httpx (CONNECT tunnel for https, absolute URIs
for http). What it does not: redirects, compression (it asks for `identity`), HTTP/2.
Every failure is a `TransportError` or `TimeoutError`. May import: the standard library.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MAX_HEAD = 64 * 1024
READ_SIZE = 64 * 1024
DRAIN_S = 0.5  # how long to wait for the end of a body nobody reads any more
DRAIN_MAX = 64 * 1024
IDLE_TTL_S = 30.0  # never reuse a connection idle longer than this (servers close at 5–120 s)


class TransportError(Exception):
    """The request could not be sent or the response could not be read."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _split(url: str) -> tuple[Origin, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"unsupported URL {url!r} (http or https only)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TransportError(f"bad port in URL {url!r}") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(parts.scheme, parts.hostname, port), target


def _check_header(name: str, value: str) -> None:
    if any(c in name + value for c in "\r\n\0") or not name or ":" in name:
        raise TransportError(f"invalid header {name!r}")


class _Conn:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def open(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class Response:
    """A response whose head is read; the body is read on demand, once."""

    def __init__(
        self,
        client: Client,
        origin: Origin,
        conn: _Conn,
        status: int,
        headers: dict[str, str],
        buffer: bytearray,
        read_timeout: float,
    ) -> None:
        self.status_code = status
        self.headers = headers
        self._client = client
        self._origin = origin
        self._conn: _Conn | None = conn
        self._buf = buffer
        self._timeout = read_timeout
        te = headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in te
        length = headers.get("content-length")
        self._remaining: int | None = None
        if not self._chunked and length is not None:
            try:
                self._remaining = int(length)
            except ValueError:
                raise TransportError("bad Content-Length") from None
        self._reusable = (
            self._chunked or self._remaining is not None
        ) and "close" not in headers.get("connection", "").lower()
        self._done = False
        self._broken = False

    async def _fill(self) -> bool:
        """Read more bytes into the buffer; False at EOF."""
        assert self._conn is not None
        try:
            async with asyncio.timeout(self._timeout):
                data = await self._conn.reader.read(READ_SIZE)
        except TimeoutError:
            raise
        except OSError as exc:  # SSLError and TimeoutError are OSErrors (timeouts caught above)
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        if not data:
            return False
        self._buf += data
        return True

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The decoded body (chunk framing removed): one piece per network read, holding every
        complete chunk that read brought."""
        if self._done or self._conn is None:
            return
        buf = self._buf
        try:
            if self._chunked:
                pieces: list[bytes] = []
                while True:
                    end = buf.find(b"\r\n")
                    if end < 0:
                        if pieces:
                            yield b"".join(pieces)
                            pieces.clear()
                        while end < 0:
                            if len(buf) > MAX_HEAD or not await self._fill():
                                raise TransportError("stream ended inside the chunk framing")
                            end = buf.find(b"\r\n")
                    try:
                        size = int(bytes(buf[:end]).split(b";", 1)[0], 16)
                    except ValueError:
                        raise TransportError("bad chunk size") from None
                    if size == 0:
                        if pieces:
                            yield b"".join(pieces)
                        await self._skip_trailers(end + 2)
                        break
                    if len(buf) < end + 4 + size and pieces:
                        yield b"".join(pieces)
                        pieces.clear()
                    while len(buf) < end + 4 + size:
                        if not await self._fill():
                            raise TransportError("stream ended inside a chunk")
                    pieces.append(bytes(buf[end + 2 : end + 2 + size]))
                    del buf[: end + 4 + size]
            elif self._remaining is not None:
                while self._remaining > 0:
                    if not buf and not await self._fill():
                        raise TransportError("stream ended before Content-Length")
                    piece = bytes(buf[: self._remaining])
                    del buf[: len(piece)]
                    self._remaining -= len(piece)
                    yield piece
            else:
                while buf or await self._fill():
                    piece = bytes(buf)
                    buf.clear()
                    yield piece
        except GeneratorExit:  # the reader stopped between two pieces: framing intact
            raise
        except BaseException:
            self._broken = True
            raise
        self._done = True
        await self.aclose()

    async def _skip_trailers(self, start: int) -> None:
        buf = self._buf
        while True:
            end = buf.find(b"\r\n", start)
            while end < 0:
                if not await self._fill():
                    raise TransportError("stream ended inside the trailers")
                end = buf.find(b"\r\n", start)
            if end == start:  # the blank line that ends the message
                del buf[: end + 2]
                return
            start = end + 2

    async def aread(self) -> bytes:
        return b"".join([piece async for piece in self.aiter_bytes()])

    async def aclose(self) -> None:
        """Return the connection to the pool if the body was read to its end, else close it.

        A reader that stopped early (an SSE `[DONE]` arrives just before the body's end) gets
        the rest drained briefly, so the connection is kept: reconnecting per call cost more.
        """
        if self._conn is None:
            return
        try:
            if not self._done and not self._broken and self._reusable:
                drained = 0
                async with asyncio.timeout(DRAIN_S):
                    async for piece in self.aiter_bytes():
                        drained += len(piece)
                        if drained > DRAIN_MAX:
                            break
        except (TimeoutError, TransportError):
            pass
        finally:
            conn, self._conn = self._conn, None
            if conn is not None:
                if self._done and self._reusable and not self._buf:
                    self._client._release(self._origin, conn)
                else:
                    conn.close()


class Client:
    """A pool of keep-alive connections; one per process, shared by every run."""

    def __init__(
        self,
        *,
        max_idle_per_origin: int = 50,
        verify: ssl.SSLContext | None = None,
        trust_env: bool = True,
    ) -> None:
        """`verify`: the TLS context certificates are checked with (the system's by default;
        checking is never turned off)."""
        self._idle: dict[Origin, list[_Conn]] = {}
        self._max_idle = max_idle_per_origin
        self._ssl = verify or ssl.create_default_context()
        self._proxies = urllib.request.getproxies() if trust_env else {}

    def _proxy_for(self, origin: Origin) -> str | None:
        proxy = self._proxies.get(origin.scheme) or self._proxies.get("all")
        if not proxy:
            return None
        bypass = self._proxies.get("no", "")
        if bypass and urllib.request.proxy_bypass_environment(origin.host, {"no": bypass}):
            return None
        return proxy if "://" in proxy else f"http://{proxy}"

    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes,
        connect_timeout: float,
        read_timeout: float,
    ) -> Response:
        """Send the request and read the response head. The caller must `aclose()` it."""
        origin, target = _split(url)
        proxy = self._proxy_for(origin)
        proxy_auth: str | None = None
        if proxy and origin.scheme == "http":
            target = f"http://{origin.authority}{target}"  # absolute form through the proxy
            proxy_auth = _proxy_authorization(proxy)
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: {origin.authority}",
            "Accept-Encoding: identity",
            f"Content-Length: {len(body)}",
        ]
        if proxy_auth:
            lines.append(f"Proxy-Authorization: {proxy_auth}")
        for name, value in headers.items():
            _check_header(name, value)
            lines.append(f"{name}: {value}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        while True:
            conn, reused = await self._acquire(origin, proxy, connect_timeout)
            buf = bytearray()
            try:
                conn.writer.write(request)
                status, response_headers = await _read_head(conn.reader, buf, read_timeout)
            except TimeoutError:
                conn.close()
                raise
            except (TransportError, OSError) as exc:
                conn.close()
                if reused and not buf:
                    continue  # the server closed an idle connection as we reused it
                if isinstance(exc, TransportError):
                    raise
                raise TransportError(f"{type(exc).__name__}: {exc}") from None
            except BaseException:
                conn.close()
                raise
            return Response(self, origin, conn, status, response_headers, buf, read_timeout)

    async def _acquire(
        self, origin: Origin, proxy: str | None, connect_timeout: float
    ) -> tuple[_Conn, bool]:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.open() and time.monotonic() - conn.idle_since < IDLE_TTL_S:
                return conn, True
            conn.close()
        try:
            async with asyncio.timeout(connect_timeout):
                return await self._connect(origin, proxy), False
        except TimeoutError:
            raise
        except OSError as exc:  # SSLError included
            raise TransportError(f"connect failed: {type(exc).__name__}: {exc}") from None

    async def _connect(self, origin: Origin, proxy: str | None) -> _Conn:
        tls = self._ssl if origin.scheme == "https" else None
        if proxy is None:
            reader, writer = await asyncio.open_connection(
                origin.host,
                origin.port,
                ssl=tls,
                server_hostname=origin.host if tls else None,
                limit=MAX_HEAD,
            )
            return _Conn(reader, writer)
        proxy_origin, _ = _split(proxy)
        reader, writer = await asyncio.open_connection(
            proxy_origin.host, proxy_origin.port, limit=MAX_HEAD
        )
        if tls is None:
            return _Conn(reader, writer)
        auth = _proxy_authorization(proxy)
        where = f"{origin.host}:{origin.port}"
        connect = f"CONNECT {where} HTTP/1.1\r\nHost: {where}\r\n"
        if auth:
            connect += f"Proxy-Authorization: {auth}\r\n"
        writer.write((connect + "\r\n").encode("latin-1"))
        status, _ = await _read_head(reader, bytearray(), None)
        if status != 200:
            writer.close()
            raise TransportError(f"proxy refused the tunnel: HTTP {status}")
        await writer.start_tls(tls, server_hostname=origin.host)
        return _Conn(reader, writer)

    def _release(self, origin: Origin, conn: _Conn) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= self._max_idle or not conn.open():
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


def _proxy_authorization(proxy: str) -> str | None:
    parts = urlsplit(proxy)
    if parts.username is None:
        return None
    token = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(token.encode()).decode()


async def _read_head(
    reader: asyncio.StreamReader, buf: bytearray, wait_s: float | None
) -> tuple[int, dict[str, str]]:
    """Status and headers (names lower-cased) of the next final response; 1xx are skipped.
    Bytes read past the head stay in `buf` for the body."""
    while True:
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            if len(buf) > MAX_HEAD:
                raise TransportError("response head too large")
            async with asyncio.timeout(wait_s):
                data = await reader.read(READ_SIZE)
            if not data:
                raise TransportError("connection closed before a response")
            buf += data
            end = buf.find(b"\r\n\r\n")
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise TransportError(f"bad status line {head[0][:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200 and status != 101:
            continue
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise TransportError("bad header line")
            name = name.strip().lower()
            value = value.strip()
            # Repeated headers join with a comma (RFC 9110 §5.3), like httpx exposes them.
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return status, headers
