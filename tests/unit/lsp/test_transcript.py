"""The transcript stream merges per-token deltas into few notifications and never loses text."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.lsp.transcript import BURST, TranscriptStream

NEVER = 3600.0
"""An interval the test never reaches: only ``add``'s own sends and ``close`` send."""

EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["content", "thinking", "toolCall"]),
        st.text(alphabet="ab🙂\n", max_size=4),
        st.integers(1, 2),
        st.booleans(),
    ),
    max_size=40,
)


def _merged(events: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Adjacent deltas of one kind and turn as one entry: what the editor shows."""
    out: list[tuple[str, str, int]] = []
    for kind, text, turn in events:
        if out and kind != "toolCall" and out[-1][0] == kind and out[-1][2] == turn:
            out[-1] = (kind, out[-1][1] + text, turn)
        else:
            out.append((kind, text, turn))
    return out


@given(EVENTS)
def test_deltas_merge_per_kind_and_turn_in_order_and_nothing_is_lost(
    events: list[tuple[str, str, int, bool]],
) -> None:
    sent: list[dict[str, Any]] = []

    async def scenario() -> None:
        stream = TranscriptStream("run-1", sent.append, interval=NEVER)
        shared = {1: {"turn": 1}, 2: {"turn": 2}}
        for kind, text, turn, share in events:
            # The agent shares one data dict per reply; other producers pass their own.
            data = shared[turn] if share else {"turn": turn}
            stream.add(AgentEvent(kind, text, data))  # type: ignore[arg-type]
        stream.close()

    asyncio.run(scenario())
    expected = _merged([(kind, text, turn) for kind, text, turn, _ in events])
    assert _merged([(n["kind"], n["text"], n["turn"]) for n in sent]) == expected
    # Within one interval only the first BURST events go out alone; the rest are merged.
    assert len(sent) <= len(expected) + BURST
    assert all(n["runId"] == "run-1" for n in sent)


class _ClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock the test sets, for the transcript's pacing."""

    now = 1000.0

    def time(self) -> float:
        return self.now


def test_tokens_at_the_allowed_pace_go_out_as_they_come_faster_ones_are_merged() -> None:
    sent: list[str] = []

    async def scenario(loop: _ClockLoop) -> None:
        stream = TranscriptStream("run-1", lambda n: sent.append(n["text"]), interval=1.0)

        def token(text: str, after: float) -> None:
            loop.now += after
            stream.add(AgentEvent("content", text, {"turn": 1}))

        token("a", 0)  # after a quiet spell: at once
        token("b", 0.9)  # at about the allowed pace, a little early: at once
        token("c", 0.9)
        assert sent == ["a", "b", "c"]
        token("d", 0.1)  # faster: held for the next send, and merged
        token("e", 0.1)
        assert sent == ["a", "b", "c"]
        stream.close()
        assert sent == ["a", "b", "c", "de"]

    with asyncio.Runner(loop_factory=_ClockLoop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, _ClockLoop)
        runner.run(scenario(loop))


async def test_held_deltas_are_sent_by_the_timer() -> None:
    loop = asyncio.get_running_loop()
    third: asyncio.Future[dict[str, Any]] = loop.create_future()
    sent: list[dict[str, Any]] = []

    def send(params: dict[str, Any]) -> None:
        sent.append(params)
        if len(sent) == 3:
            third.set_result(params)

    stream = TranscriptStream("run-1", send, interval=0.01)
    stream.add(AgentEvent("toolCall", "read_file a.py", {"turn": 1}))
    stream.add(AgentEvent("content", "a", {"turn": 1}))  # the bucket is empty now
    stream.add(AgentEvent("content", "b", {"turn": 1}))
    stream.add(AgentEvent("content", "c", {"turn": 1}))
    assert [n["text"] for n in sent] == ["read_file a.py", "a"]
    assert (await asyncio.wait_for(third, 10))["text"] == "bc"
    stream.close()
    assert len(sent) == 3


async def test_finished_flushes_everything_held() -> None:
    sent: list[dict[str, Any]] = []
    stream = TranscriptStream("run-1", sent.append, interval=NEVER)
    stream.add(AgentEvent("content", "a", {"turn": 1}))
    stream.add(AgentEvent("content", "b", {"turn": 1}))
    stream.add(AgentEvent("finished", "Done.", {"status": "completed"}))
    assert [(n["kind"], n["text"]) for n in sent] == [
        ("content", "a"),
        ("content", "b"),
        ("finished", "Done."),
    ]
