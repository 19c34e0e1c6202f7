"""Fitting the prompt into num_ctx without spoiling the prompt cache.

The conversation is append-only while it fits; compaction is rare, in one large step that folds
the old steps into one note after the task, and never touches the system message, the task,
pinned messages or the newest exchange; what it keeps after the note is small (the server
evaluates it again). The property tests fit turn after turn as the agent loop does.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ollama_agent_ls.agent.context_budget import (
    CAP_NOTE_MAX_CHARS,
    FOLD_NOTE_HEAD,
    FOLD_NOTE_MIN_CHARS,
    FOLD_NOTE_SHARE,
    REFILL_SHARE,
    RESULT_CAP_MIN_CHARS,
    RESULTS_PER_ROOM,
    BudgetReport,
    ContextBudget,
    cap_tool_result,
)
from ollama_agent_ls.agent.prefix import is_pure_append
from ollama_agent_ls.ollama.models import Message, ToolCall
from ollama_agent_ls.tools.schemas import CORE_TOOLS, TOOL_DEFINITIONS

SYSTEM = "You are a coding agent. Rules: " + "be careful. " * 150
TASK = "Task: fix add() in app.py so that the tests pass"
TOOLS = ["read_file", "search", "run_command", "write_file"]


def _arguments(tool: str, n: int) -> dict[str, Any]:
    if tool == "read_file":
        return {"path": f"src/mod{n}.py", "start_line": 1, "end_line": 400}
    if tool == "search":
        return {"regex": f"def f{n}", "glob": "**/*.py"}
    if tool == "run_command":
        return {"command": f"pytest -q tests/test_{n}.py"}
    return {"path": f"src/new{n}.py", "content": "x = 1\n" * 80}


@dataclass(frozen=True)
class Turn:
    """One model turn: its reply and the results of its calls (sizes as shares of the budget)."""

    reply_chars: int
    thinking_chars: int
    calls: tuple[tuple[str, float], ...]
    feedback: bool
    """A user message after the results, as the loop sends for text edits and errors."""


turns = st.builds(
    Turn,
    st.integers(0, 600),
    st.sampled_from([0, 0, 300, 3000]),
    st.lists(st.tuples(st.sampled_from(TOOLS), st.floats(0, 1)), min_size=0, max_size=3).map(tuple),
    st.booleans(),
)


class Run:
    """A conversation fitted before every request, as the agent loop does."""

    def __init__(
        self, num_ctx: int, cap_share: float | None = None, *, room_cap: bool = False
    ) -> None:
        self.budget = ContextBudget(num_ctx)
        self.budget_chars = int(self.budget.limit * self.budget.chars_per_token)
        self.cap = int(self.budget_chars * cap_share) if cap_share is not None else None
        self.messages = [Message("system", SYSTEM), Message("user", TASK)]
        if room_cap:
            # As the agent loop caps: by the room the fixed prefix, tool schemas included, leaves.
            self.budget.set_tools([TOOL_DEFINITIONS[name] for name in CORE_TOOLS])
            self.cap = self.budget.result_cap(self.messages)
        self.turn = 0
        self.changes: dict[int, int] = {}
        """How often each message was cut by a fit."""
        self.pins: list[Message] = []

    def pin(self, message: Message) -> None:
        """Pin ``message`` in the budget, and remember it to check."""
        self.pins.append(message)
        self.budget.pin(message)

    def add(self, turn: Turn) -> Message:
        """Append the reply and the results of ``turn``; the reply as it went over the wire."""
        self.turn += 1
        calls = [
            ToolCall(tool, _arguments(tool, self.turn), id=f"call_{self.turn}_{k}")
            for k, (tool, _) in enumerate(turn.calls)
        ]
        reply = Message("assistant", "r" * turn.reply_chars, "t" * turn.thinking_chars, calls)
        self.messages.append(reply)
        for call, (_, share) in zip(calls, turn.calls, strict=True):
            text = _line_text(int(self.budget_chars * share))
            if self.cap is not None:
                text = cap_tool_result(text, self.cap)
            self.messages.append(Message("tool", text, tool_name=call.name, tool_call_id=call.id))
        if turn.feedback:
            self.messages.append(Message("user", "Fix what failed and reply again. " * 20))
        return reply

    def wire(self) -> list[dict[str, Any]]:
        """The messages as the backend sends them."""
        return [m.to_wire() for m in self.messages]


_CUT = "cut here to fit the context window"


def _line_text(size: int) -> str:
    return "".join(f"{n:>6}\tline {n} of output\n" for n in range(size // 20 + 1))[:size]


def _check_fit(run: Run, instruction: Message | None = None) -> BudgetReport:
    """Fit once and check what any fit must do; the report."""
    budget, messages = run.budget, run.messages
    before_messages = list(messages)
    before = run.wire()
    was_cut = [budget.is_compacted(m) for m in messages]
    replies = [i for i, m in enumerate(messages) if m.role == "assistant"]
    report = budget.fit(messages, instruction)
    after = run.wire()
    # (a) The estimate is right, and says whether it is within the limit.
    assert report.estimated_tokens == budget.estimate(messages)
    assert report.over_budget == (report.estimated_tokens > budget.limit)
    # (b) The instructions and the task never change.
    assert after[0] == {"role": "system", "content": SYSTEM}
    assert after[1] == {"role": "user", "content": TASK}
    folded_away: list[Message] = []
    if report.folded is not None:
        # (c) Old steps between the task and the kept tail became one note listing what they
        # did, followed by the pinned messages of the span, unchanged and in order.
        start, end, new_end = report.folded
        assert start == 2 and end > start and new_end >= start + 1
        assert after[start]["role"] == "user"
        assert after[start]["content"].startswith(FOLD_NOTE_HEAD)
        span = before_messages[start:end]
        pinned = [m for m in span if m is instruction or m in run.pins]
        assert messages[start + 1 : new_end] == pinned
        assert all(a is b for a, b in zip(messages[start + 1 : new_end], pinned, strict=True))
        folded_away = [m for m in span if not any(m is p for p in pinned)]
        before = [
            *before[:start],
            {},
            *before[start + 1 : end][: new_end - start - 1],
            *before[end:],
        ]
        before[start + 1 : new_end] = after[start + 1 : new_end]
        was_cut = [*was_cut[:start], False, *[False] * (new_end - start - 1), *was_cut[end:]]
        # (d) What the server evaluates again after the note is small: the kept seen
        # exchanges fit in REFILL_SHARE of the room after the fixed prefix.
        newest = max(i for i, m in enumerate(messages) if m.role == "assistant")
        seen = budget.estimate(messages[new_end:newest]) - budget.estimate([])
        fixed = budget.estimate(messages[:start])
        assert seen <= (budget.limit - fixed) * REFILL_SHARE
    # (e) Nothing else changed: only the note and results cut now.
    assert len(after) == len(before)
    changed = [i for i in range(len(after)) if after[i] != before[i]]
    assert changed == list(report.changed)
    assert report.compacted == bool(changed)
    assert report.elided_messages == len(folded_away) + len(changed) - (report.folded is not None)
    for i in changed:
        if report.folded is not None and i == report.folded[0]:
            continue
        # A cut result: a tool result or a loop message, cut once, never a pinned one.
        assert messages[i].role in ("tool", "user") and budget.is_compacted(messages[i])
        assert not was_cut[i] and messages[i] is not instruction and messages[i] not in run.pins
        assert "cut here to fit the context window" in messages[i].content
        run.changes[id(messages[i])] = run.changes.get(id(messages[i]), 0) + 1
    # (f) The newest exchange (the reply and results the server has not seen) is kept.
    if replies:
        newest_reply = before_messages[replies[-1]]
        assert any(m is newest_reply for m in messages)
    # (g) Over the limit only when nothing is left to cut: every result after the note is cut.
    if report.over_budget:
        start = report.folded[1] if report.folded is not None else 2
        rest = [m for m in messages[start:] if m.role == "tool"]
        assert all(budget.is_compacted(m) or len(m.content) <= 2000 for m in rest)
    return report


@settings(deadline=None, max_examples=60)
@given(st.integers(2048, 32768), st.lists(turns, min_size=1, max_size=40))
def test_fitting_turn_after_turn_changes_only_what_it_compacts(
    num_ctx: int, run_turns: list[Turn]
) -> None:
    run = Run(num_ctx)
    for turn in run_turns:
        previous, reply = run.wire(), run.add(turn)
        report = _check_fit(run)
        # Changing a message the server has not seen yet (a new result cut) keeps the append.
        sent = len(previous) + 1
        pure = not any(i < sent for i in report.changed)
        assert is_pure_append(previous, reply.to_wire(), run.wire()) == pure


@settings(deadline=None, max_examples=30)
@given(st.integers(2048, 32768), st.lists(turns, min_size=1, max_size=40))
def test_results_capped_on_arrival_fit_the_same_way(num_ctx: int, run_turns: list[Turn]) -> None:
    run = Run(num_ctx, cap_share=0.25)
    for turn in run_turns:
        run.add(turn)
        _check_fit(run)


@settings(deadline=None, max_examples=30)
@given(
    st.integers(2048, 32768),
    st.lists(turns, min_size=1, max_size=30),
    st.sets(st.integers(0, 29), max_size=4),
    st.integers(0, 29),
)
def test_pinned_messages_and_the_follow_up_survive_every_fold(
    num_ctx: int, run_turns: list[Turn], pin_at: set[int], follow_up_at: int
) -> None:
    run = Run(num_ctx, cap_share=0.25)
    instruction: Message | None = None
    for n, turn in enumerate(run_turns):
        run.add(turn)
        if n in pin_at:
            switched = Message("user", f"From now on write plain text ({n}). " * 5)
            run.messages.append(switched)
            run.pin(switched)
        if n == follow_up_at:
            instruction = Message("user", "Now also handle negative numbers. " * 3)
            run.messages.append(instruction)
        _check_fit(run, instruction)
        assert all(any(m is p for m in run.messages) for p in run.pins)
        assert instruction is None or any(m is instruction for m in run.messages)


@settings(deadline=None, max_examples=20)
@given(st.integers(16384, 32768), st.integers(0, 2**32))
def test_with_results_below_a_tenth_of_the_budget_nine_in_ten_requests_are_pure_appends(
    num_ctx: int, seed: int
) -> None:
    # Sizes from a seeded generator, not from hypothesis: the claim is about typical runs, and
    # hypothesis would search for the one run where every result is at the maximum.
    sizes = random.Random(seed)
    run = Run(num_ctx)
    appends = 0
    for _ in range(40):
        previous = run.wire()
        turn = Turn(sizes.randint(0, 300), 0, (("read_file", sizes.uniform(0, 0.1)),), False)
        reply = run.add(turn)
        report = _check_fit(run)
        assert not report.over_budget
        assert not report.changed or report.changed == (2,)  # the note alone, nothing cut
        appends += is_pure_append(previous, reply.to_wire(), run.wire())
    assert appends / 40 >= 0.9


@settings(deadline=None, max_examples=40)
@given(st.integers(4096, 65536), st.integers(0, 120), st.integers(0, 2**32))
def test_with_every_result_capped_a_compaction_comes_at_most_every_five_turns(
    num_ctx: int, reply_chars: int, seed: int
) -> None:
    # The cap is a share of the room after the fixed prefix, not of the whole budget: at 4k the
    # prefix takes a third of it, and a budget share let a compaction come every five turns.
    sizes = random.Random(seed)
    run = Run(num_ctx, room_cap=True)
    assert run.cap is not None and run.cap >= RESULT_CAP_MIN_CHARS
    steps: list[int] = []
    for n in range(40):
        previous = run.wire()
        share = sizes.uniform(1.0, 3.0) * run.cap / run.budget_chars  # always over the cap
        reply = run.add(Turn(reply_chars, 0, (("read_file", share),), False))
        report = _check_fit(run)
        assert not report.over_budget
        assert not report.changed or report.changed == (2,)  # the note alone, nothing cut
        if not is_pure_append(previous, reply.to_wire(), run.wire()):
            steps.append(n)
    # Every turn adds a call and a short reply beside its result: RESULTS_PER_ROOM capped
    # results fill the room, and the note and the kept exchange take a little of it back.
    gaps = [b - a for a, b in zip([-1, *steps], steps, strict=False)]
    assert steps and all(gap >= RESULTS_PER_ROOM - 3 for gap in gaps), steps
    if reply_chars == 0:
        assert all(gap >= RESULTS_PER_ROOM - 2 for gap in gaps), steps


def test_the_result_cap_is_an_eighth_of_the_room_the_fixed_prefix_leaves() -> None:
    small, large = ContextBudget(4096), ContextBudget(32768)
    prefix = [Message("system", SYSTEM), Message("user", TASK)]
    # A longer task (or system prompt, or tool schemas) leaves less room, so a lower cap.
    longer = [prefix[0], Message("user", TASK + " and explain why" * 100)]
    assert small.result_cap(longer) < small.result_cap(prefix)
    room = (small.limit - small.estimate(prefix)) * small.chars_per_token
    assert abs(small.result_cap(prefix) - room / RESULTS_PER_ROOM) < 2
    # A larger window's room is mostly not the prefix: its cap is a near eighth of the budget.
    assert large.result_cap(prefix) > 8 * small.result_cap(prefix)
    # However small the room, a result keeps enough to tell the model something.
    assert ContextBudget(1024).result_cap(longer) == RESULT_CAP_MIN_CHARS


def _conversation(results: int, size: int) -> list[Message]:
    messages = [Message("system", SYSTEM), Message("user", TASK)]
    for n in range(results):
        call = ToolCall("read_file", {"path": f"src/m{n}.py"}, id=f"call_{n}")
        messages.append(Message("assistant", f"Reading m{n}.", tool_calls=[call]))
        messages.append(
            Message("tool", _line_text(size), tool_name="read_file", tool_call_id=call.id)
        )
    return messages


def test_while_the_prompt_fits_nothing_changes() -> None:
    messages = _conversation(3, 2000)
    before = [m.to_wire() for m in messages]
    report = ContextBudget(32768).fit(messages)
    assert [m.to_wire() for m in messages] == before
    assert not report.compacted and report.changed == () and report.removed_tokens == 0


def test_a_compaction_folds_old_steps_and_keeps_the_task_and_newest_results() -> None:
    messages = _conversation(32, 3000)
    before = [m.to_wire() for m in messages]
    budget = ContextBudget(32768)
    report = budget.fit(messages)
    assert report.compacted and not report.over_budget and report.folded is not None
    assert [m.to_wire() for m in messages[:2]] == before[:2]
    # One note right after the task, then the newest exchanges whole: the one the server has
    # not seen, and a few before it (those within the refill share).
    assert messages[2].content.startswith(FOLD_NOTE_HEAD)
    kept = len(messages) - 3
    assert kept >= 4 and kept % 2 == 0
    assert [m.to_wire() for m in messages[3:]] == before[-kept:]
    # Room for many appended turns: the prompt is far below the limit now.
    assert report.estimated_tokens < budget.limit * 0.4


def test_the_fold_note_names_each_call_and_says_not_to_repeat_a_write() -> None:
    write = ToolCall("write_file", {"path": "a.py", "content": "x\n" * 5000}, id="w")
    messages = [
        Message("system", SYSTEM),
        Message("user", TASK),
        Message("assistant", "", tool_calls=[write]),
        Message("tool", "Wrote a.py\n" + "diff line\n" * 2000, tool_name="write_file"),
        *_conversation(8, 3000)[2:],
    ]
    ContextBudget(12000).fit(messages)
    note = messages[2].content
    assert note.startswith(FOLD_NOTE_HEAD) and "Call a read tool again" in note
    lines = note.splitlines()[1:]
    assert lines[0] == '- write_file path="a.py" (done: do not repeat)'
    assert '- read_file path="src/m0.py"' in lines
    assert "x\nx" not in note  # the file's text would make the note long


def test_a_later_fold_keeps_the_earlier_notes_entries() -> None:
    budget = ContextBudget(8192)
    messages = _conversation(12, 3000)
    budget.fit(messages)
    first = messages[2].content
    for n in range(12, 30):
        call = ToolCall("search", {"regex": f"f{n}"}, id=f"call_{n}")
        messages.append(Message("assistant", "", tool_calls=[call]))
        messages.append(Message("tool", _line_text(3000), tool_name="search", tool_call_id=call.id))
        budget.fit(messages)
    [note] = [m.content for m in messages if m.content.startswith(FOLD_NOTE_HEAD)]
    assert note != first and '- search regex="f12"' in note
    # The first fold's steps are still listed, or counted when the note had to drop them.
    assert '- read_file path="src/m0.py"' in note or "earlier ones not listed" in note
    assert len(note) <= max(FOLD_NOTE_MIN_CHARS, budget.limit * 3 * FOLD_NOTE_SHARE)


def test_a_long_runs_note_stays_short_and_counts_what_it_no_longer_lists() -> None:
    budget = ContextBudget(4096)
    messages = _conversation(0, 0)
    for n in range(200):
        call = ToolCall("search", {"regex": f"function_number_{n}"}, id=f"c{n}")
        messages.append(Message("assistant", "", tool_calls=[call]))
        messages.append(Message("tool", _line_text(900), tool_name="search"))
        assert not budget.fit(messages).over_budget
    [note] = [m.content for m in messages if m.content.startswith(FOLD_NOTE_HEAD)]
    assert len(note) <= FOLD_NOTE_MIN_CHARS
    match = re.search(r"\((\d+) earlier ones not listed\)", note)
    assert match is not None
    listed = note.count("\n- ")
    newest = max(int(n) for n in re.findall(r"function_number_(\d+)", note))
    # Every folded step is listed or counted: none is lost without a word.
    assert int(match.group(1)) + listed == newest + 1


def test_compactions_are_rare_the_turns_between_are_pure_appends() -> None:
    budget = ContextBudget(32768)
    messages = _conversation(0, 0)
    compactions = 0
    for n in range(60):
        call = ToolCall("read_file", {"path": f"m{n}.py"}, id=f"c{n}")
        messages.append(Message("assistant", "", tool_calls=[call]))
        messages.append(Message("tool", _line_text(6000), tool_name="read_file"))
        compactions += budget.fit(messages).compacted
    # The old fit elided one result on every turn once full (about 45 of 60 here).
    assert 1 <= compactions <= 6


def test_as_a_last_resort_the_newest_result_is_cut_with_a_note_how_to_read_less() -> None:
    messages = _conversation(1, 40000)
    budget = ContextBudget(8192)
    report = budget.fit(messages)
    assert not report.over_budget and report.changed == (3,)
    text = messages[3].content
    match = re.search(r"\[\.\.\. (\d+) characters \((\d+) lines\) of 40000 cut here", text)
    assert match is not None and "read_file with start_line and end_line" in text
    assert text.startswith("     0\tline 0 of output\n")
    assert len(text) - len(match.group(0)) < 40000 - int(match.group(1)) + CAP_NOTE_MAX_CHARS


def test_a_cut_result_is_folded_away_once_it_is_old_so_newer_results_fit() -> None:
    budget = ContextBudget(8192)
    messages = _conversation(1, 40000)
    budget.fit(messages)
    call = ToolCall("read_file", {"path": "src/n1.py"}, id="n1")
    messages.append(Message("assistant", "", tool_calls=[call]))
    messages.append(Message("tool", _line_text(4000), tool_name="read_file", tool_call_id="n1"))
    report = budget.fit(messages)
    assert not report.over_budget and report.folded is not None
    assert '- read_file path="src/m0.py"' in messages[2].content
    assert messages[-1].content == _line_text(4000)


def test_observe_warns_when_ollama_counted_far_fewer_tokens() -> None:
    budget = ContextBudget(8192)
    messages = [Message("user", "word " * 4000)]
    assert budget.observe(messages, 0) is None
    assert budget.observe(messages, 5000) is None
    warning = budget.observe(messages, 300)
    assert warning is not None and "num_ctx=8192" in warning and "Raise numCtx" in warning


def test_a_low_count_on_a_cache_hit_is_not_a_cut() -> None:
    # Some Ollama versions count only the evaluated (uncached) tokens of an appended request.
    budget = ContextBudget(8192)
    messages = [Message("user", "word " * 4000)]
    assert budget.observe(messages, 300, maybe_cached=True) is None
    assert budget.chars_per_token == 3.0  # and nothing is learnt from such a count
    # A count at the context limit is a cut whatever the cache did.
    assert budget.observe(messages, 8190, maybe_cached=True) is not None


_NOTE = re.compile(r"\n\[\.\.\. (\d+) characters \((\d+) lines\) of (\d+) left out here[^\]]*\]\n")


@settings(deadline=None)
@given(st.text(st.sampled_from("ab\n"), max_size=3000), st.integers(0, 2000))
def test_cap_tool_result_keeps_head_and_tail_and_says_what_it_left_out(
    text: str, max_chars: int
) -> None:
    capped = cap_tool_result(text, max_chars)
    if len(text) <= max_chars:
        assert capped == text
        return
    # The note counts: the model gets at most max_chars (only a cap below the note's own
    # length can give more, and then only the note).
    assert len(capped) <= max(max_chars, CAP_NOTE_MAX_CHARS)
    match = _NOTE.search(capped)
    assert match is not None
    head, tail = capped[: match.start()], capped[match.end() :]
    left_out = text[len(head) : len(text) - len(tail)]
    assert text.startswith(head) and text.endswith(tail)
    assert int(match.group(1)) == len(left_out) and int(match.group(3)) == len(text)
    assert int(match.group(2)) == left_out.count("\n")
    assert "read_file with start_line and end_line" in match.group(0)


def test_cap_tool_result_notes_stay_short_for_huge_results() -> None:
    text = "x" * 10**7
    capped = cap_tool_result(text, 1000)
    assert len(capped) <= 1000
    # What the note leaves of the cap goes to the text: the note is all that is not kept.
    assert re.search(r"\[\.\.\. 9999\d{3} characters", capped)
    assert len(capped) > 1000 - 20
    assert cap_tool_result("short", 1000) == "short"


def test_at_4k_with_large_results_most_requests_are_pure_appends() -> None:
    # Scenario B of the prompt-cache bench: without folding, the notes of earlier compactions
    # piled up until every request compacted again (half the requests were not appends).
    run = Run(4096, cap_share=0.1)
    appends = 0
    for _ in range(20):
        previous = run.wire()
        reply = run.add(Turn(80, 0, (("read_file", 1.0),), False))
        report = _check_fit(run)
        assert not report.over_budget
        appends += is_pure_append(previous, reply.to_wire(), run.wire())
    assert appends >= 16
    [note] = [m for m in run.messages if m.content.startswith(FOLD_NOTE_HEAD)]
    # Every folded read is listed or counted.
    match = re.search(r"\((\d+) earlier ones not listed\)", note.content)
    listed = note.content.count('- read_file path="src/mod')
    kept = sum(m.role == "tool" for m in run.messages)
    assert (int(match.group(1)) if match else 0) + listed + kept == 20
    assert run.messages.index(note) == 2  # right after the task: one step, then appends
