"""The NDJSON decoder returns the same objects however the byte stream is split."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.ollama.client import OllamaClient
from ollama_agent_ls.ollama.errors import OllamaProtocolError
from ollama_agent_ls.ollama.models import Message
from ollama_agent_ls.ollama.ndjson import NDJSONDecoder
from ollama_agent_ls.settings import Settings

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at every position in ``cuts`` (any byte, even inside a UTF-8 char)."""
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def decode_all(pieces: list[bytes]) -> list[Any]:
    decoder = NDJSONDecoder()
    out: list[Any] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    out.extend(decoder.close())
    return out


@given(
    objects=st.lists(json_objects, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=30),
    newline=st.sampled_from([b"\n", b"\r\n"]),
    ascii_only=st.booleans(),
)
def test_any_split_decodes_to_the_same_objects(
    objects: list[dict[str, Any]], cuts: list[int], newline: bytes, ascii_only: bool
) -> None:
    data = b"".join(
        json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8") + newline for obj in objects
    )
    assert decode_all(split_at(data, cuts)) == objects


@given(
    objects=st.lists(json_objects, min_size=1, max_size=6),
    blanks=st.lists(st.sampled_from([b"\n", b"\r\n", b"  \n", b"\t\r\n"]), max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20),
)
def test_blank_lines_are_skipped(
    objects: list[dict[str, Any]], blanks: list[bytes], cuts: list[int]
) -> None:
    lines = [json.dumps(obj).encode() + b"\n" for obj in objects]
    for i, blank in enumerate(blanks):
        lines.insert(i % (len(lines) + 1), blank)
    assert decode_all(split_at(b"".join(lines), cuts)) == objects


def test_last_line_without_newline_is_decoded_at_close() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a": 1}\n{"b"') == [{"a": 1}]
    assert decoder.feed(b": 2}") == []
    assert decoder.pending == 8
    assert decoder.close() == [{"b": 2}]


def test_byte_by_byte_multibyte_text() -> None:
    line = json.dumps({"content": "héllo ✓ 𝄞"}, ensure_ascii=False).encode() + b"\r\n"
    decoder = NDJSONDecoder()
    out: list[Any] = []
    for i in range(len(line)):
        out.extend(decoder.feed(line[i : i + 1]))
    assert out == [{"content": "héllo ✓ 𝄞"}]


def test_non_json_line_raises_a_protocol_error_quoting_it() -> None:
    decoder = NDJSONDecoder()
    with pytest.raises(OllamaProtocolError) as info:
        decoder.feed(b'{"ok": true}\n<html><body>502 Bad Gateway</body></html>\n')
    message = str(info.value)
    assert "<html><body>502 Bad Gateway" in message
    assert "ollamaUrl" in message


def test_long_bad_line_is_quoted_only_in_part() -> None:
    with pytest.raises(OllamaProtocolError) as info:
        NDJSONDecoder().feed(b"x" * 5000 + b"\n")
    assert "x" * 200 in str(info.value)
    assert "x" * 201 not in str(info.value)


# A line longer than streamLineMaxBytes ends the request instead of growing the buffer.

LIMIT = 64


def feed_until_error(decoder: NDJSONDecoder, pieces: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
        # Never more than the limit held, whatever the split.
        assert decoder.pending <= LIMIT
    out.extend(decoder.close())
    return out


@settings(deadline=None)
@given(
    objects=st.lists(json_objects, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
def test_lines_within_the_limit_decode_under_any_split(
    objects: list[dict[str, Any]], cuts: list[int]
) -> None:
    lines = [json.dumps(obj).encode() for obj in objects]
    fitting = [obj for obj, line in zip(objects, lines, strict=True) if len(line) <= LIMIT]
    data = b"".join(line + b"\n" for line in lines if len(line) <= LIMIT)
    assert feed_until_error(NDJSONDecoder(LIMIT), split_at(data, cuts)) == fitting


@settings(deadline=None)
@given(
    before=st.lists(st.integers(), max_size=3),
    extra=st.integers(min_value=1, max_value=500),
    newline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
def test_a_line_over_the_limit_is_an_error_under_any_split(
    before: list[int], extra: int, newline: bool, cuts: list[int]
) -> None:
    long_line = b'{"content": "' + b"x" * (LIMIT + extra) + b'"}'
    data = b"".join(json.dumps({"n": n}).encode() + b"\n" for n in before) + long_line
    data += b"\n" if newline else b""
    decoder = NDJSONDecoder(LIMIT)
    with pytest.raises(OllamaProtocolError, match="streamLineMaxBytes") as info:
        for piece in split_at(data, cuts):
            decoder.feed(piece)
            assert decoder.pending <= LIMIT
    assert f"({LIMIT:,} bytes)" in str(info.value)


def test_a_line_of_exactly_the_limit_is_accepted() -> None:
    line = b'{"c": "' + b"y" * (LIMIT - 9) + b'"}'
    assert len(line) == LIMIT
    assert NDJSONDecoder(LIMIT).feed(line + b"\n") == [{"c": "y" * (LIMIT - 9)}]


async def test_the_client_stops_a_stream_that_never_ends_its_line() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        # 64 MB without a newline if nothing stops it; the cap must stop it after ~10 kB.
        for _ in range(64_000):
            sent += 1
            yield b"z" * 1000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    settings_ = Settings(stream_line_max_bytes=10_000)
    client = OllamaClient(settings_, transport=httpx.MockTransport(handler))
    with pytest.raises(OllamaProtocolError) as info:
        async for _ in client.chat_stream(
            model="m", messages=[Message("user", "hi")], tools=[], num_ctx=2048
        ):
            pass
    await client.aclose()
    assert "streamLineMaxBytes (10,000 bytes)" in str(info.value)
    assert sent < 100
