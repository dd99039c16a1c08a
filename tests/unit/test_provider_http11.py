"""The providers' HTTP/1.1 client against raw local servers: body framings, keep-alive reuse,
a pooled connection the server closed, an early stop, header injection, proxies and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat_platform.providers.http11 import Client, Response, TransportError
from tests.fakes.raw_http import chunked, serve


async def stream(client: Client, url: str, **headers: str) -> Response:
    return await client.stream(
        "POST", url, headers=headers, body=b"{}", connect_timeout=2, read_timeout=2
    )


async def test_chunked_body_lines_and_keep_alive_reuse() -> None:
    async def handler(_req: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(chunked(b"data: a\n", b"\ndata: b", b"\r\n\r\n"))

    async with serve(handler) as server, Client() as client:
        url = f"http://127.0.0.1:{server.port}/v1/x?q=1"
        for _ in range(3):
            response = await stream(client, url, authorization="Bearer k")
            assert response.status_code == 200
            assert (
                b"".join([p async for p in response.aiter_bytes()]) == b"data: a\n\ndata: b\r\n\r\n"
            )
            await response.aclose()
    assert server.connections == 1 and len(server.requests) == 3
    first = server.requests[0].decode()
    assert first.startswith("POST /v1/x?q=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in first and "authorization: Bearer k" in first
    assert first.endswith("\r\n\r\n{}")


async def test_content_length_and_close_delimited_bodies() -> None:
    replies = [
        b"HTTP/1.1 429 Too Many\r\nContent-Length: 5\r\nRetry-After: 1\r\n\r\nslow!",
        b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
    ]

    async def handler(_req: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(replies.pop(0))
        if not replies:
            writer.close()

    async with serve(handler) as server, Client() as client:
        url = f"http://127.0.0.1:{server.port}/"
        response = await stream(client, url)
        assert (response.status_code, response.headers["retry-after"]) == (429, "1")
        assert await response.aread() == b"slow!"
        response = await stream(client, url)  # same connection: the first body had a length
        assert await response.aread() == b"until the end"
    assert server.connections == 1


async def test_a_pooled_connection_closed_by_the_server_is_replaced() -> None:
    answered_on: list[asyncio.StreamWriter] = []  # kept alive: ids never recycled

    async def handler(req: bytes, writer: asyncio.StreamWriter) -> None:
        if b"/idle-close" in req:
            writer.write(chunked(b"ok"))
            await writer.drain()
            writer.close()  # noticed by the pool before reuse
        elif writer in answered_on:
            writer.close()  # closed just as the client reused it: no answer at all
        else:
            answered_on.append(writer)
            writer.write(chunked(b"ok"))

    async with serve(handler) as server, Client() as client:
        base = f"http://127.0.0.1:{server.port}"
        for path in ("/idle-close", "/idle-close", "/race", "/race"):
            response = await stream(client, base + path)
            assert await response.aread() == b"ok"
            await asyncio.sleep(0.05)
    # 2 for the idle closes, 1 for the first /race, 1 for the retry of the second
    assert server.connections == 4 and len(server.requests) == 5


async def test_a_reader_stopping_at_done_keeps_the_connection() -> None:
    async def handler(_req: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(chunked(b"data: [DONE]\n\n")[:-5])  # all but the terminating chunk
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")

    async with serve(handler) as server, Client() as client:
        url = f"http://127.0.0.1:{server.port}/"
        for _ in range(2):
            response = await stream(client, url)
            async for piece in response.aiter_bytes():
                if b"[DONE]" in piece:
                    break
            await response.aclose()  # drains the rest, returns the connection
    assert server.connections == 1


async def test_broken_framing_and_silence_are_errors() -> None:
    async def handler(req: bytes, writer: asyncio.StreamWriter) -> None:
        if b"/bad" in req:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        elif b"/cut" in req:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
            writer.close()
        # /silent: never answers

    async with serve(handler) as server, Client() as client:
        base = f"http://127.0.0.1:{server.port}"
        with pytest.raises(TransportError, match="bad chunk size"):
            await (await stream(client, base + "/bad")).aread()
        with pytest.raises(TransportError, match="before Content-Length"):
            await (await stream(client, base + "/cut")).aread()
        with pytest.raises(TimeoutError):
            await client.stream(
                "POST", base + "/silent", headers={}, body=b"", connect_timeout=1, read_timeout=0.2
            )


async def test_bad_urls_and_header_injection_are_refused() -> None:
    async with Client() as client:
        with pytest.raises(TransportError, match="http or https"):
            await stream(client, "ftp://example.com/")
        with pytest.raises(TransportError, match="invalid header"):
            await stream(client, "http://127.0.0.1:9/", authorization="k\r\nX-Evil: 1")
        with pytest.raises(TransportError, match="connect failed"):
            await stream(client, "http://127.0.0.1:9/")  # discard port: nobody listens


@contextlib.asynccontextmanager
async def proxy_server() -> AsyncIterator[tuple[int, list[str]]]:
    """A forward proxy: absolute-URI requests are relayed, CONNECT opens a tunnel."""
    seen: list[str] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode()
        seen.append(line)
        method, target, _ = line.split(" ")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            hostport = target.split("/")[2]
            host, port = hostport.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            up_writer.write(head)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    tcp = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield tcp.sockets[0].getsockname()[1], seen
    finally:
        tcp.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_verified_and_through_a_connect_proxy(
    tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tls_files
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    trusted = ssl.create_default_context(cafile=str(cert))

    async def handler(_req: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(chunked(b"secret"))

    async with serve(handler, tls=server_tls) as server:
        url = f"https://localhost:{server.port}/"
        async with Client(verify=trusted, trust_env=False) as client:
            assert await (await stream(client, url)).aread() == b"secret"
        async with Client(trust_env=False) as client:  # the system CAs do not know this cert
            with pytest.raises(TransportError, match=r"SSL|certificate"):
                await stream(client, url)
        async with proxy_server() as (proxy_port, seen):
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy_port}")
            async with Client(verify=trusted) as client:
                assert await (await stream(client, url)).aread() == b"secret"
            assert seen == [f"CONNECT localhost:{server.port} HTTP/1.1"]
            monkeypatch.setenv("NO_PROXY", "localhost")
            async with Client(verify=trusted) as client:
                assert await (await stream(client, url)).aread() == b"secret"
            assert len(seen) == 1  # bypassed


async def test_plain_http_through_a_proxy_uses_the_absolute_uri(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def handler(_req: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(chunked(b"via proxy"))

    async with serve(handler) as server, proxy_server() as (proxy_port, seen):
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with Client() as client:
            url = f"http://127.0.0.1:{server.port}/v1/chat"
            assert await (await stream(client, url)).aread() == b"via proxy"
        assert seen == [f"POST http://127.0.0.1:{server.port}/v1/chat HTTP/1.1"]
