"""How much of a request the server's prompt cache can reuse from the previous one.

llama.cpp, Ollama and vLLM keep the KV cache of the longest unchanged prefix of the previous
prompt; everything after the first changed byte is evaluated again. These measures work on the
wire messages (the JSON objects a backend sends), so they see what the server sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def canonical(messages: Sequence[Mapping[str, Any]]) -> str:
    """One stable serialisation of ``messages``: equal JSON gives equal text."""
    return json.dumps(list(messages), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def prefix_share(
    previous: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]
) -> float:
    """Share of ``current``'s serialisation that is a common prefix with ``previous``'s (0..1)."""
    old, new = canonical(previous), canonical(current)  # never empty: at least "[]"
    return _common_prefix(old, new) / len(new)


def is_pure_append(
    previous: Sequence[Mapping[str, Any]],
    previous_reply: Mapping[str, Any],
    current: Sequence[Mapping[str, Any]],
) -> bool:
    """True when ``current`` is ``previous``, then ``previous_reply``, then new messages only."""
    head = [*previous, previous_reply]
    if len(current) < len(head):
        return False
    return all(_same(a, b) for a, b in zip(head, current[: len(head)], strict=True))


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    # Not ``a == b``: 1 == 1.0 == True in Python, yet they serialise (and tokenise) differently.
    if a is b:
        return True
    return canonical([a]) == canonical([b])


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix, by halving: slices compare in C, a loop would not."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low
