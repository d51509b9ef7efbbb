"""Exact HTTP/1.1 requests over a plain socket, for cases an HTTP client library would tidy up.

Header names keep their case, values go out byte for byte (quotes, percent signs, even CR/LF when
a test smuggles them), and the answer is read with a bounded wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    raw: bytes


def request_bytes(
    method: str, path: str, headers: list[tuple[str, str]] | list[list[str]], body: bytes
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def parse_answer(raw: bytes) -> Answer:
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    return Answer(status, headers, rest[:length], raw)


async def read_answer(reader: asyncio.StreamReader, within: float = 10.0) -> Answer:
    """Read one response (status line, headers, Content-Length body) from `reader`."""
    async with asyncio.timeout(within):
        head = await reader.readuntil(b"\r\n\r\n")
        answer = parse_answer(head)
        length = int(answer.headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
    return Answer(answer.status, answer.headers, body, head + body)


async def send(
    port: int,
    method: str,
    path: str,
    headers: list[tuple[str, str]] | list[list[str]],
    body: bytes = b"",
    within: float = 10.0,
) -> Answer:
    """One request on a fresh connection; the answer within `within` seconds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_bytes(method, path, headers, body))
        await writer.drain()
        return await read_answer(reader, within)
    finally:
        await close(writer)


async def close(writer: asyncio.StreamWriter) -> None:
    """Close and wait, ignoring a connection the server already reset."""
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


async def stream_until_answered(port: int, head: bytes, chunk: bytes, most: int) -> tuple[Answer, int]:
    """Send `head` then `chunk` repeatedly (up to `most` bytes) until the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer_task = asyncio.create_task(read_answer(reader, within=60))
    sent = 0
    try:
        writer.write(head)
        while not answer_task.done() and sent < most:
            writer.write(chunk)
            sent += len(chunk)
            try:
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0)  # drain() need not yield: let the reader see an answer
        return await answer_task, sent
    finally:
        answer_task.cancel()
        await close(writer)


async def closed_within(reader: asyncio.StreamReader, within: float, reset_ok: bool = False) -> bytes:
    """Everything the server sends until it closes the connection (TimeoutError if it never
    does); with `reset_ok`, a reset after or instead of an answer counts as closing."""
    data = b""
    async with asyncio.timeout(within):
        try:
            while chunk := await reader.read(65536):
                data += chunk
        except ConnectionError:
            if not reset_ok:
                raise
    return data


async def trickled(port: int, start: bytes, piece: bytes, reset_ok: bool = False) -> bytes:
    """Send `start`, then `piece` every 0.1 s (never finishing); what the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(start)

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            for _ in range(200):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.1)  # the slow client is the behaviour under test

    trickler = asyncio.create_task(trickle())
    try:
        return await closed_within(reader, 15, reset_ok)
    finally:
        trickler.cancel()
        await close(writer)


async def hold_mid_request(port: int, head: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection whose request `head` (with `Expect: 100-continue`) the server has read: its
    100 Continue is the barrier, so the connection is mid-request on the server's side."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    async with asyncio.timeout(10):
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    return reader, writer
