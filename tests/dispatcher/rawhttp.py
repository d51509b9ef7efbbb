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
