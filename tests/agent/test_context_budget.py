"""Fitting the prompt into num_ctx: what is elided, what is kept, and what the report says."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from ollama_agent_ls.agent.context_budget import ELIDED_NOTE, ContextBudget
from ollama_agent_ls.ollama.models import Message

conversations = st.lists(
    st.tuples(st.sampled_from(["assistant", "tool", "user"]), st.integers(0, 6000)),
    max_size=12,
).map(
    lambda parts: [
        Message("system", "rules " * 50),
        Message("user", "Task: fix add"),
        *(Message(role, "x" * size) for role, size in parts),
    ]
)


@given(conversations, st.integers(512, 8192))
def test_fit_touches_only_old_tool_results_and_reports_what_it_did(
    messages: list[Message], num_ctx: int
) -> None:
    before = copy.deepcopy(messages)
    budget = ContextBudget(num_ctx)
    fits = budget.estimate(messages) <= budget.limit
    report = budget.fit(messages)
    assert report.estimated_tokens == budget.estimate(messages)
    assert report.over_budget == (report.estimated_tokens > budget.limit)
    assert len(messages) == len(before)
    changed = [i for i, m in enumerate(messages) if m.content != before[i].content]
    assert report.elided_messages >= len(changed)
    assert all(before[i].role == "tool" for i in changed)
    if fits:
        assert changed == [] and report.elided_messages == 0
    tools = [i for i, m in enumerate(before) if m.role == "tool"]
    # The newest two results are shortened at most, never replaced by the note.
    assert all(messages[i].content != ELIDED_NOTE for i in tools[-2:])


def test_oldest_results_go_first_and_the_newest_stay() -> None:
    messages = [Message("system", "rules"), Message("user", "Task: x")]
    messages += [Message("tool", f"{n}" * 3000) for n in range(5)]
    report = ContextBudget(3000).fit(messages)
    assert [m.content == ELIDED_NOTE for m in messages[2:]] == [True, True, True, False, False]
    assert report.elided_messages == 3 and not report.over_budget


def test_observe_warns_when_ollama_counted_far_fewer_tokens() -> None:
    budget = ContextBudget(8192)
    messages = [Message("user", "word " * 4000)]
    assert budget.observe(messages, 0) is None
    assert budget.observe(messages, 5000) is None
    warning = budget.observe(messages, 300)
    assert warning is not None and "num_ctx=8192" in warning and "Raise numCtx" in warning
