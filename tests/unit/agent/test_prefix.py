"""How much of a request the prompt cache can reuse: prefix share and pure appends."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.agent.prefix import canonical, is_pure_append, prefix_share

messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "tool"]), "content": st.text(max_size=40)},
        optional={"tool_call_id": st.sampled_from(["a", "b"])},
    ),
    max_size=8,
)


def _brute_share(previous: list[dict[str, Any]], current: list[dict[str, Any]]) -> float:
    old, new = canonical(previous), canonical(current)
    common = 0
    while common < min(len(old), len(new)) and old[common] == new[common]:
        common += 1
    return common / len(new)


@settings(deadline=None)
@given(messages, messages)
def test_prefix_share_is_the_common_prefix_of_the_serialisations(
    previous: list[dict[str, Any]], current: list[dict[str, Any]]
) -> None:
    share = prefix_share(previous, current)
    assert 0.0 <= share <= 1.0
    assert share == _brute_share(previous, current)


@settings(deadline=None)
@given(messages, st.fixed_dictionaries({"role": st.just("assistant"), "content": st.text()}))
def test_a_request_that_only_appends_shares_all_the_previous_one(
    previous: list[dict[str, Any]], reply: dict[str, Any]
) -> None:
    current = [*previous, reply, {"role": "tool", "content": "result"}]
    assert is_pure_append(previous, reply, current)
    # Everything but the previous request's closing bracket is reused.
    assert prefix_share(previous, current) == (len(canonical(previous)) - 1) / len(
        canonical(current)
    )


@settings(deadline=None)
@given(messages.filter(bool), st.data())
def test_changing_any_earlier_message_is_not_a_pure_append(
    previous: list[dict[str, Any]], data: st.DataObject
) -> None:
    reply = {"role": "assistant", "content": "ok"}
    where = data.draw(st.integers(0, len(previous) - 1))
    changed = [dict(m) for m in previous]
    changed[where]["content"] += "!"
    assert not is_pure_append(previous, reply, [*changed, reply])
    assert not is_pure_append(previous, reply, [*previous])  # the reply is missing
    assert prefix_share(previous, [*changed, reply]) < 1.0


def test_values_equal_in_python_but_not_on_the_wire_differ() -> None:
    previous = [{"role": "tool", "content": "x", "n": 1}]
    reply = {"role": "assistant", "content": ""}
    assert not is_pure_append(previous, reply, [{"role": "tool", "content": "x", "n": 1.0}, reply])
    assert is_pure_append(previous, reply, [{"n": 1, "content": "x", "role": "tool"}, reply])


def test_empty_requests_share_their_brackets() -> None:
    assert prefix_share([], []) == 1.0
    assert prefix_share([{"role": "user", "content": "a"}], []) == 0.5  # "[" of "[]"


def test_fast_enough_for_every_request_of_a_long_run() -> None:
    big = [{"role": "tool", "content": "line of output\n" * 2000} for _ in range(40)]
    current = [*big[:-1], {"role": "tool", "content": "changed"}]
    copies = [dict(m) for m in big]
    started = time.perf_counter()
    for _ in range(20):
        prefix_share(big, current)
        is_pure_append(big[:-1], big[-1], copies)  # copies: no shortcut for the same dict
    # 20 requests of about 1.2 MB each: well under a second even on a loaded CPU.
    assert time.perf_counter() - started < 2.0
