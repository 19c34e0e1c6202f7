"""The SSE decoder returns the same events however the byte stream is split and whatever line
endings the server uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.ollama.models import Message
from ollama_agent_ls.openai_compat.client import OpenAIClient
from ollama_agent_ls.openai_compat.errors import ServerProtocolError
from ollama_agent_ls.openai_compat.sse import SSEDecoder, SSEEvent
from ollama_agent_ls.settings import Settings

line_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30
)


@dataclass(frozen=True)
class Spec:
    """One event to encode: its data lines, optional type, comment and field spacing."""

    lines: tuple[str, ...]
    event: str
    comment: str | None
    spaced: bool

    def expected(self) -> SSEEvent:
        return SSEEvent("\n".join(self.lines), self.event or "message")

    def encode(self, eol: str) -> str:
        out = []
        if self.comment is not None:
            out.append(":" + self.comment + eol)
        if self.event:
            out.append("event: " + self.event + eol)
        for line in self.lines:
            # Without the space the value must not start with one, or it would lose it.
            spaced = self.spaced or line.startswith(" ")
            out.append(("data: " if spaced else "data:") + line + eol)
        return "".join(out) + eol


specs = st.builds(
    Spec,
    lines=st.lists(line_text, min_size=1, max_size=4).map(tuple),
    event=st.sampled_from(["", "message", "error", "completion"]),
    comment=st.none() | line_text,
    spaced=st.booleans(),
)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at every position in ``cuts`` (any byte, even inside a UTF-8 character)."""
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def decode_all(pieces: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    out: list[SSEEvent] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    out.extend(decoder.close())
    return out


@settings(deadline=None)
@given(
    events=st.lists(specs, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=40),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
def test_any_split_and_any_line_ending_decode_to_the_same_events(
    events: list[Spec], cuts: list[int], eol: str, bom: bool
) -> None:
    data = ("\ufeff" if bom else "").encode() + "".join(e.encode(eol) for e in events).encode()
    expected = [e.expected() for e in events]
    assert decode_all([data]) == expected
    assert decode_all(split_at(data, cuts)) == expected


@settings(deadline=None)
@given(events=st.lists(specs, min_size=1, max_size=5), eol=st.sampled_from(["\n", "\r\n"]))
def test_byte_at_a_time_decodes_the_same(events: list[Spec], eol: str) -> None:
    data = "".join(e.encode(eol) for e in events).encode()
    assert decode_all([data[i : i + 1] for i in range(len(data))]) == [e.expected() for e in events]


def test_chat_completion_stream_with_pings_and_done() -> None:
    stream = (
        b": ping\n\n"
        b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
        b": ping - 2026-12-01 10:00:00\n\n"
        b"data: [DONE]\n\n"
    )
    assert [e.data for e in decode_all([stream])] == [
        '{"choices":[{"delta":{"content":"Hi"}}]}',
        "[DONE]",
    ]


def test_cr_at_the_end_of_a_read_waits_for_a_possible_lf() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # The LF completes a CRLF: one line end, not an empty line that would end the event early.
    assert decoder.feed(b"\ndata: b\r\n") == []
    assert decoder.feed(b"\r\n") == [SSEEvent("a\nb")]


def test_multi_line_data_event_type_and_id() -> None:
    stream = b"id: 7\nevent: error\ndata: first\ndata\ndata: third\n\n"
    assert decode_all([stream]) == [SSEEvent("first\n\nthird", "error", "7")]


def test_an_event_without_its_blank_line_still_counts_at_the_end() -> None:
    assert decode_all([b"data: [DONE]\n"]) == [SSEEvent("[DONE]")]


def test_a_line_cut_short_by_the_end_of_the_stream_is_dropped() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"choices":[{"del') == []
    assert decoder.pending > 0
    assert decoder.close() == []


def test_comments_and_fields_alone_dispatch_nothing() -> None:
    assert decode_all([b": keep-alive\n\nevent: x\n\nretry: 100\n\n"]) == []


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode_all([b"data: caf\xe9\n\n"]) == [SSEEvent("caf\ufffd")]


# A line or event longer than streamLineMaxBytes ends the request instead of growing memory.

LIMIT = 64


@settings(deadline=None)
@given(
    events=st.lists(specs, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_events_within_the_limit_decode_under_any_split(
    events: list[Spec], cuts: list[int], eol: str
) -> None:
    fitting = [e for e in events if len(e.encode("\n").encode()) <= LIMIT]
    data = "".join(e.encode(eol) for e in fitting).encode()
    decoder = SSEDecoder(LIMIT)
    out: list[SSEEvent] = []
    for piece in split_at(data, cuts):
        out.extend(decoder.feed(piece))
        assert decoder.pending <= LIMIT + 1  # + a CR that may be half of a CRLF
    out.extend(decoder.close())
    assert out == [e.expected() for e in fitting]


@settings(deadline=None)
@given(
    extra=st.integers(min_value=1, max_value=300),
    lines=st.integers(min_value=1, max_value=4),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
def test_a_line_or_event_over_the_limit_is_an_error_under_any_split(
    extra: int, lines: int, eol: str, cuts: list[int]
) -> None:
    # One long data line, or several short ones that add up to more than the limit.
    width = (LIMIT + extra) // lines
    body = "".join("data: " + "x" * width + eol for _ in range(lines)) + eol
    data = (": ping" + eol + eol + body).encode()
    decoder = SSEDecoder(LIMIT)
    with pytest.raises(ServerProtocolError, match="streamLineMaxBytes") as info:
        for piece in split_at(data, cuts):
            decoder.feed(piece)
            assert decoder.pending <= LIMIT + 1
        decoder.close()
    assert f"({LIMIT:,} bytes)" in str(info.value)


def test_a_line_of_exactly_the_limit_is_accepted() -> None:
    line = b"data: " + b"y" * (LIMIT - 6)
    assert SSEDecoder(LIMIT).feed(line + b"\n\n") == [SSEEvent("y" * (LIMIT - 6))]


async def test_the_client_stops_a_stream_that_never_ends_its_line() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
        for _ in range(64_000):
            sent += 1
            yield b"data: " + b"z" * 1000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless(), headers={"content-type": "text/event-stream"})

    config = Settings(backend="openai", model="m", stream_line_max_bytes=10_000)
    client = OpenAIClient(config, transport=httpx.MockTransport(handler))
    with pytest.raises(ServerProtocolError) as info:
        async for _ in client.chat_stream(
            model="m", messages=[Message("user", "hi")], tools=[], num_ctx=2048
        ):
            pass
    await client.aclose()
    assert "streamLineMaxBytes (10,000 bytes)" in str(info.value)
    assert "baseUrl" in str(info.value)
    assert sent < 100
