"""The transcript stream merges per-token deltas into few notifications and never loses text."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ollama_agent_ls.agent.events import AgentEvent
from ollama_agent_ls.lsp.transcript import TranscriptStream

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
    # Within one interval only the first event goes out alone; the rest are merged.
    assert len(sent) <= len(expected) + 1
    assert all(n["runId"] == "run-1" for n in sent)


async def test_first_delta_after_a_quiet_spell_goes_out_at_once_the_rest_wait() -> None:
    sent: list[dict[str, Any]] = []
    stream = TranscriptStream("run-1", sent.append, interval=NEVER)
    stream.add(AgentEvent("content", "Hel", {"turn": 1}))
    assert [n["text"] for n in sent] == ["Hel"]
    stream.add(AgentEvent("content", "lo", {"turn": 1}))
    stream.add(AgentEvent("content", "!", {"turn": 1}))
    assert [n["text"] for n in sent] == ["Hel"]
    stream.close()
    assert [n["text"] for n in sent] == ["Hel", "lo!"]


async def test_held_deltas_are_sent_by_the_timer() -> None:
    loop = asyncio.get_running_loop()
    second: asyncio.Future[dict[str, Any]] = loop.create_future()
    sent: list[dict[str, Any]] = []

    def send(params: dict[str, Any]) -> None:
        sent.append(params)
        if len(sent) == 2:
            second.set_result(params)

    stream = TranscriptStream("run-1", send, interval=0.01)
    stream.add(AgentEvent("content", "a", {"turn": 1}))
    stream.add(AgentEvent("content", "b", {"turn": 1}))
    stream.add(AgentEvent("content", "c", {"turn": 1}))
    assert (await asyncio.wait_for(second, 10))["text"] == "bc"
    stream.close()
    assert len(sent) == 2


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
