"""Fallback for small models that write their tool calls as text instead of structured calls.

Real small models (Qwen2.5-Coder 0.5B/1.5B through llama.cpp, custom GGUF imports, AWQ builds)
answer with the call in ``content`` and no ``tool_calls``: a fenced JSON block, a bare
``{"name": ..., "arguments": {...}}``, ``<tool_call>{...}</tool_call>`` (Qwen, Hermes),
``<function=name><parameter=p>v</parameter></function>`` (Qwen3-Coder), gpt-oss harmony tokens
(``<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{...}<|call|>``), or
a line of Python (``check_criterion(2, "passes")``, see :mod:`python_calls`).
The agent loop calls :func:`scan_text_tool_calls` on such a reply: it runs ``calls`` and tells the
model each entry of ``malformed``, so a reply that plainly tries to call a tool never ends the run
as if it were the final answer.

Small models often write almost-JSON (Python triple-quoted strings, single quotes, trailing
commas, raw newlines in strings, True/None, a missing closing brace). That is repaired with
``json_repair``, but only inside a call container (a fence, ``<tool_call>``, ``<function=...>``,
a harmony call) or where the text plainly starts a call (``{"name": "<known tool>"``): arbitrary
prose and code are never turned into calls.

To keep ordinary prose and code from being executed, a value counts as a call only when its name
is one of the known tools and its arguments are an object (possibly JSON-encoded in a string).
An echoed tool *definition* (a JSON schema under ``parameters`` next to a ``description``) is not
a call.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import json_repair

from ollama_agent_ls.agent.python_calls import find_python_calls
from ollama_agent_ls.ollama.models import ToolCall
from ollama_agent_ls.tools.schemas import ARG_MODELS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextToolScan:
    """What a reply's text holds: calls to run, and a message for each call that was unreadable."""

    calls: list[ToolCall] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    """One message per unreadable or unknown call, naming it, why, and how to resend it."""


_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input")
_WRAPPER_KEYS = ("tool_calls", "tool_call", "function_call", "action")
# A reply is a few kilobytes; the caps only stop pathological inputs (thousands of unbalanced
# brackets or fences) from costing seconds, since each failed attempt may scan to the end.
_MAX_ATTEMPTS = 5000
_MAX_CONTAINERS = 200
_MAX_CANDIDATES = 100
# json_repair is pure Python and slow on deep nesting ("{" * 16000 takes ~2 s): bound what it
# is given per reply, and never hand it deeply nested text.
_REPAIR_BUDGET = 64_000
_MAX_REPAIRS = 32
_MAX_DEPTH = 64
_WALK_BUDGET = 256_000
_MAX_NESTING = 8
# Fence languages that announce data rather than code; other fences hold a call only when their
# body is an object naming a known tool.
_CALL_FENCE_LANGS = frozenset(
    {"", "json", "json5", "jsonc", "jsonl", "tool_call", "tool_calls", "tool_code", "tool"}
    | {"tools", "function", "function_call", "functions", "call"}
)
# Argument names a repair may produce; anything else means a string swallowed the structure.
_PLAIN_KEY = re.compile(r"[A-Za-z_$@][\w.\-$@]{0,63}")

_DECODER = json.JSONDecoder()
# Raw newlines and tabs inside strings are the commonest slip; they mean what they look like.
_LENIENT = json.JSONDecoder(strict=False)
_START = re.compile(r"[\[{]")
_MISTRAL_PREFIX = re.compile(r"\[TOOL_CALLS\]\s*([\w.\-]+)\s*\[ARGS\]\s*")
_FUNCTION_OPEN = re.compile(r"<function=([^>\s]{1,200})>")
_FUNCTION_END = re.compile(r"</function>|<function=|</tool_call>")
_PARAMETER_OPEN = re.compile(r"<parameter=([^>\s]{1,200})>")
_PARAMETER_END = re.compile(r"</parameter>|<parameter=")
_TOOL_CALL_OPEN = re.compile(r"<tool_call>")
_TOOL_CALL_END = re.compile(r"</tool_call>|<tool_call>")
_FENCE_AFTER = re.compile(r"\s*```")
_TAG_AFTER = re.compile(r"\s*</tool_call>")
_FUNCTION_AFTER = re.compile(r"\s*</function>")
# Where a broken call-like object in plain text must end at the latest: a container boundary.
_BOUNDARY = re.compile(r"</?tool_call>|</?function[=>]|<\|[a-z_]{1,32}\|>|^[ \t]*```", re.MULTILINE)
_FENCE_LANG = re.compile(r"[A-Za-z0-9_+.#\-]*")
_WALK_TOKEN = re.compile(r"\"\"\"|'''|[\"'{}\[\],]|\b(?:True|False|None)\b")
_JSON_LITERALS = {"True": "true", "False": "false", "None": "null"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"'\\/bfnrt])")
_PYTHON_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)", re.DOTALL)
# Single-quoted keys mean the model wrote a Python dict: its '...' strings use Python escapes.
_PYTHON_STYLE = re.compile(r"^\s*[\[{]\s*'|[{,]\s*'name'\s*:")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PYTHON_ESCAPES = {**_ESCAPES, "a": "\a", "v": "\v", "0": "\0", "\n": ""}
_LAYOUT = frozenset("\"',:{}[]\\")

_HARMONY = re.compile(r"<\|(start|end|message|channel|constrain|call|return)\|>")
_CONTROL_TOKEN = re.compile(r"<\|[a-z_]{1,32}\|>")
_RECIPIENT = re.compile(r"\bto=([^\s<]+)")
_ROLE_BEFORE_CHANNEL = re.compile(r"\b(?:assistant|user|system|developer|tool)[ \t]*$")
_HARMONY_WORDS = frozenset(
    {"assistant", "user", "system", "developer", "tool", "analysis", "commentary", "final"}
    | {"json", "code"}
)
# The form servers leave once they drop the tokens: "commentary to=functions.x json{...}".
_LOOSE_HARMONY = re.compile(
    r"\bto=functions\.([\w.\-]+)(?:\s|<\|constrain\|>|<\|message\|>|\b(?:json|code)\b)*(?=\{)"
)


def scan_text_tool_calls(content: str, known_tools: Collection[str]) -> TextToolScan:
    """The tool calls written as text in ``content``, and messages for attempts it cannot read."""
    try:
        return _Scanner(content, frozenset(known_tools)).run()
    except Exception:  # never let a parsing surprise break the agent loop
        logger.exception("scanning reply text for tool calls failed; treating it as prose")
        return TextToolScan()


def extract_text_tool_calls(content: str, known_tools: Collection[str]) -> list[ToolCall]:
    """Tool calls written as text in ``content``, in order; only known names with object args."""
    return scan_text_tool_calls(content, known_tools).calls


def clean_tool_name(name: str) -> str:
    """``name`` without leaked harmony tokens, channels or a ``functions.`` prefix."""
    text = name.strip()
    if "to=" in text:
        text = text.rsplit("to=", 1)[1]
    words = [piece.split()[0] for piece in _CONTROL_TOKEN.split(text) if piece.strip()]
    # A half-written token ("read_file<|channel") leaves "<|" in a piece.
    words = [word.split("<|", 1)[0] for word in words]
    words = [word for word in words if word]
    if not words:
        return ""
    chosen = next((word for word in words if word not in _HARMONY_WORDS), words[0])
    while chosen.startswith("functions."):
        chosen = chosen[len("functions.") :]
    return chosen


def strip_harmony(content: str) -> str:
    """``content`` without harmony control tokens and analysis-channel (reasoning) text.

    A harmony call message is kept as ``to=functions.NAME {args}``, the form
    :func:`scan_text_tool_calls` reads, so scanning before or after stripping finds the same calls.
    """
    if "<|" not in content:
        return content
    pieces: list[str] = []
    for part in _harmony_parts(content):
        if part.kind == "text":
            pieces.append(content[part.start : part.end])
        elif part.kind == "message":
            body = content[part.body_start : part.body_end]
            if part.recipient is not None:
                name = clean_tool_name(part.recipient)
                pieces.append(f"\nto=functions.{name} {body.strip()}\n")
            elif part.channel != "analysis":
                pieces.append(body)
    return _CONTROL_TOKEN.sub("", "".join(pieces))


# --- messages for the model -------------------------------------------------------------------


def _unreadable(name: str | None, why: str) -> str:
    who = f"Your {name} call" if name else "A tool call in your reply"
    shown = name or "TOOL_NAME"
    return (
        f"{who} could not be read: {why}. Resend it as one JSON object: "
        f'{{"name": "{shown}", "arguments": {{...}}}} with strings in double quotes, '
        'newlines as \\n and quotes inside strings as \\".'
    )


def _unknown(name: str, known: frozenset[str]) -> str:
    return (
        f"Unknown tool {name!r}; available: {', '.join(sorted(known))}. Resend the call as one "
        'JSON object with one of these names: {"name": "...", "arguments": {...}}.'
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string that is not a JSON object"
    if isinstance(value, list):
        return "a list"
    return "an object with non-text keys"


# --- reading JSON and almost-JSON -------------------------------------------------------------


@dataclass(frozen=True)
class _Reading:
    values: list[Any]
    repaired: bool = False
    error: str | None = None
    """Why nothing could be read (then ``values`` is empty)."""


def _strict_prefix(
    text: str, decoder: json.JSONDecoder = _DECODER
) -> tuple[list[Any], int, str | None]:
    """JSON values at the start of ``text`` (whitespace or commas between), where reading stopped,
    and the error that stopped it before the end."""
    values: list[Any] = []
    position = 0
    length = len(text)
    while True:
        while position < length and (text[position].isspace() or text[position] == ","):
            position += 1
        if position >= length:
            return values, position, None
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            why = f"it is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            return values, position, why
        except (ValueError, RecursionError):
            return values, position, "it is not valid JSON (nested too deeply)"
        values.append(value)


def _strict_values(
    text: str, decoder: json.JSONDecoder = _DECODER
) -> tuple[list[Any] | None, str | None]:
    values, _, error = _strict_prefix(text, decoder)
    if error is None and values:
        return values, None
    return None, error or "it is empty"


def _string_end(text: str, start: int, end: int, quote: str) -> int:
    """The index after the quote closing a string whose body starts at ``start``."""
    position = start
    while True:
        found = text.find(quote, position, end)
        if found < 0:
            return end
        backslashes = 0
        while found - backslashes - 1 >= start and text[found - backslashes - 1] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return found + 1
        position = found + 1


def _triple_close(text: str, start: int, end: int, quote: str) -> tuple[int, int]:
    """Where a triple-quoted string starting at ``start`` ends: (body end, index after it).

    Python ends it at the first triple quote, but the file text inside often holds its own
    (docstrings), so the first run of quotes followed by JSON structure (``,``, ``}``, ``]`` or
    the end) wins; in a run of more than three quotes the last three close it.
    """
    position = start
    first: int | None = None
    for _ in range(64):
        found = text.find(quote, position, end)
        if found < 0:
            break
        run_end = found
        while run_end < end and text[run_end] == quote[0]:
            run_end += 1
        if first is None:
            first = run_end
        after = run_end
        while after < end and text[after].isspace():
            after += 1
        if after >= end or text[after] in ",}]":
            return run_end - 3, run_end
        position = run_end
    if first is not None:
        return first - 3, first
    return end, end


def _decode_escapes(body: str) -> str:
    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("u"):
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, code)

    return _ESCAPE.sub(replace, body)


def _triple_value(body: str) -> str:
    """The text a model meant by a Python triple-quoted string.

    A multi-line one is file text written as it should appear, so backslashes stay as written
    (``print("a\\n")`` must reach the file unchanged); only an escaped triple quote is undone. A
    one-line one uses escapes the way JSON does. The newline right after the opening quotes is
    layout, not content.
    """
    multiline = "\n" in body
    if body.startswith("\r\n"):
        body = body[2:]
    elif body.startswith("\n"):
        body = body[1:]
    if multiline:
        return body.replace('\\"\\"\\"', '"""').replace("\\'\\'\\'", "'''")
    return _decode_escapes(body)


def _python_string_value(body: str) -> str:
    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "xu" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code in "\\'\"":
            return code
        return _PYTHON_ESCAPES.get(code, "\\" + code)  # Python keeps unknown escapes

    return _PYTHON_ESCAPE.sub(replace, body)


@dataclass(frozen=True)
class _Walked:
    text: str
    """The walked text rewritten as JSON where that is certain (see :func:`_walk`)."""
    depth: int
    stop: int
    cut_off: bool
    """It ends inside a string that never closes: the reply was cut off mid-call."""


def _walk(text: str, start: int, end: int, one_value: bool, python: bool = False) -> _Walked:
    """Walk ``text[start:end]`` knowing where strings are, and rewrite what is certain: Python
    triple-quoted strings (and, when ``python``, single-quoted ones) as JSON strings, True/False/
    None as JSON literals, no trailing commas, and brackets still open at the end closed.

    With ``one_value`` the walk stops after the first balanced value (``stop``).
    """
    out: list[str] = []
    emitted = position = start
    closers: list[str] = []
    deepest = 0
    stop = end
    cut_off = False
    while True:
        match = _WALK_TOKEN.search(text, position, end)
        if match is None:
            break
        token = match.group()
        if len(token) == 3 and token[0] in "\"'":
            body_end, after = _triple_close(text, match.end(), end, token)
            literal_start = match.start()
            # A Python prefix (r"""...""", f"""...""") is not part of the JSON string.
            if (
                literal_start > start
                and text[literal_start - 1] in "rRbBfFuU"
                and (literal_start - 1 == start or not text[literal_start - 2].isalnum())
            ):
                literal_start -= 1
            out.append(text[emitted:literal_start])
            out.append(json.dumps(_triple_value(text[match.end() : body_end]), ensure_ascii=False))
            emitted = position = after
            cut_off = body_end == end and not text.endswith(token, 0, end)
            continue
        if token in "\"'":
            position = _string_end(text, match.end(), end, token)
            closed = text[position - 1 : position] == token and position > match.end()
            cut_off = not closed
            if python and token == "'" and closed:
                # json_repair mangles escapes inside a dict written with Python quotes.
                body = _python_string_value(text[match.end() : position - 1])
                out.append(text[emitted : match.start()])
                out.append(json.dumps(body, ensure_ascii=False))
                emitted = position
            continue
        position = match.end()
        if token in _JSON_LITERALS:
            out.append(text[emitted : match.start()])
            out.append(_JSON_LITERALS[token])
            emitted = position
        elif token == ",":
            after = position
            while after < end and text[after].isspace():
                after += 1
            if after < end and text[after] in "}]":  # a trailing comma
                out.append(text[emitted : match.start()])
                emitted = position
        elif token in "{[":
            closers.append("}" if token == "{" else "]")
            deepest = max(deepest, len(closers))
        else:
            if closers:
                closers.pop()
            if one_value and not closers:
                stop = position
                break
    out.append(text[emitted:stop])
    if not one_value and closers and not cut_off:
        out.extend(reversed(closers))  # the reply ended before the call's closing brackets
    return _Walked("".join(out), deepest, stop, cut_off)


# --- which values are calls -------------------------------------------------------------------


def _call_items(value: Any, nesting: int = 0) -> list[dict[str, Any]]:
    """The objects in ``value`` that stand for one call each (lists and wrappers unwrapped)."""
    if nesting > _MAX_NESTING:
        return []
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    if isinstance(value, dict):
        if "name" in value or isinstance(value.get("function"), dict):
            return [value]
        # Wrappers models invent around a call: {"thought": ..., "tool_call": {...}} and the like.
        for key in _WRAPPER_KEYS:
            items = _call_items(value.get(key), nesting + 1)
            if items:
                return items
    return []


def _call_from(value: Any, known: frozenset[str], nesting: int = 0) -> ToolCall | None:
    if not isinstance(value, dict) or nesting > _MAX_NESTING:
        return None
    function = value.get("function")
    if isinstance(function, dict):
        return _call_from(function, known, nesting + 1)
    raw_name = value.get("name")
    if not isinstance(raw_name, str):
        return None
    name = clean_tool_name(raw_name)
    if name not in known:
        return None
    for key in _ARGUMENT_KEYS:
        if key in value:
            arguments = _as_object(value[key])
            if arguments is None or _is_tool_definition(value, arguments):
                return None
            return ToolCall(name=name, arguments=arguments)
    return None


def _explain(
    value: dict[str, Any], known: frozenset[str], explicit: bool, nesting: int = 0
) -> str | None:
    """Why a call-shaped object is not a call, for the model; None when it is no call attempt."""
    function = value.get("function")
    if isinstance(function, dict) and nesting < _MAX_NESTING:
        return _explain(function, known, explicit, nesting + 1)
    raw_name = value.get("name")
    if not isinstance(raw_name, str):
        return _unreadable(None, 'it has no "name" of a tool') if explicit else None
    name = clean_tool_name(raw_name)
    argument_key = next((key for key in _ARGUMENT_KEYS if key in value), None)
    if name not in known:
        return _unknown(name or raw_name, known) if explicit or argument_key else None
    if argument_key is None:
        return _unreadable(name, 'it has no "arguments" object')
    arguments = value[argument_key]
    if isinstance(arguments, dict) and _is_tool_definition(value, arguments):
        return None
    return _unreadable(
        name,
        f'its "{argument_key}" must be a JSON object of argument names and values, '
        f"not {_kind(arguments)}",
    )


def _calls_from(value: Any, known: frozenset[str]) -> list[ToolCall]:
    calls = [_call_from(item, known) for item in _call_items(value)]
    return [call for call in calls if call is not None]


def _as_object(arguments: Any) -> dict[str, Any] | None:
    # Some models JSON-encode the arguments (OpenAI style); at most twice, seen in the wild.
    for _ in range(2):
        if not isinstance(arguments, str):
            break
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            return None
    if isinstance(arguments, dict) and all(isinstance(key, str) for key in arguments):
        return arguments
    return None


def _is_tool_definition(value: dict[str, Any], arguments: dict[str, Any]) -> bool:
    return (
        "description" in value
        and arguments.get("type") == "object"
        and isinstance(arguments.get("properties"), dict)
    )


def _odd_keys(arguments: dict[str, Any]) -> list[str]:
    return [key for key in arguments if not _PLAIN_KEY.fullmatch(key)]


# --- harmony (gpt-oss) ------------------------------------------------------------------------


@dataclass(frozen=True)
class _HarmonyPart:
    kind: str
    """"text" (outside any message), "message", or "header" (a header with no message)."""
    start: int
    end: int
    channel: str = ""
    recipient: str | None = None
    body_start: int = 0
    body_end: int = 0


def _harmony_parts(content: str) -> list[_HarmonyPart]:
    """``content`` cut into plain text and harmony messages (header, channel, recipient, body)."""
    parts: list[_HarmonyPart] = []
    state = "text"
    segment_start = header_start = header_from = body_start = 0
    header_pieces: list[tuple[str, str]] = []

    def message(end: int, body_end: int) -> _HarmonyPart:
        channel = ""
        for token, text in header_pieces:
            if token == "channel" and text.split():
                channel = text.split()[0]
                break
        recipient = _RECIPIENT.search(" ".join(text for _, text in header_pieces))
        return _HarmonyPart(
            "message",
            header_start,
            end,
            channel,
            recipient.group(1) if recipient else None,
            body_start,
            body_end,
        )

    token = ""
    for match in _HARMONY.finditer(content):
        kind = match.group(1)
        if state == "body" and kind in ("end", "call", "return", "start", "channel"):
            closes = kind in ("end", "call", "return")
            parts.append(message(match.end() if closes else match.start(), match.start()))
            state = "text"
            segment_start = match.end() if closes else match.start()
            if closes:
                continue
        if state == "text":
            if kind in ("end", "call", "return"):  # a stray terminator
                parts.append(_HarmonyPart("text", segment_start, match.start()))
                segment_start = match.end()
                continue
            text_end = match.start()
            if kind == "channel":
                # "assistant<|channel|>..." without <|start|>: the role belongs to the header.
                role = _ROLE_BEFORE_CHANNEL.search(content, segment_start, match.start())
                if role is not None:
                    text_end = role.start()
            parts.append(_HarmonyPart("text", segment_start, text_end))
            header_start = text_end
            header_pieces = []
            state = "header"
        elif state == "header":
            header_pieces.append((token, content[header_from : match.start()]))
        if state == "header":
            if kind == "message":
                state = "body"
                body_start = match.end()
            elif kind in ("end", "call", "return"):
                parts.append(_HarmonyPart("header", header_start, match.end()))
                state = "text"
                segment_start = match.end()
            else:
                token = kind
                header_from = match.end()
    if state == "text":
        parts.append(_HarmonyPart("text", segment_start, len(content)))
    elif state == "header":
        parts.append(_HarmonyPart("header", header_start, len(content)))
    else:
        parts.append(message(len(content), len(content)))
    return parts


# --- the scan ---------------------------------------------------------------------------------


class _Spans:
    """Sorted, merged ``[start, end)`` ranges of the reply already accounted for."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        first = bisect.bisect_left(self._ends, start)
        last = first
        while last < len(self._starts) and self._starts[last] <= end:
            start = min(start, self._starts[last])
            end = max(end, self._ends[last])
            last += 1
        self._starts[first:last] = [start]
        self._ends[first:last] = [end]

    def end_of(self, position: int) -> int | None:
        """The end of the range holding ``position``, if one does."""
        index = bisect.bisect_right(self._starts, position) - 1
        if index >= 0 and position < self._ends[index]:
            return self._ends[index]
        return None

    def overlaps(self, start: int, end: int) -> bool:
        index = bisect.bisect_left(self._starts, end) - 1
        return index >= 0 and self._ends[index] > start


class _Scanner:
    """One reply's scan.

    Strict JSON calls are found first, then harmony messages, then containers (fences, tags,
    ``<function=...>`` blocks) outermost first, then call-like objects in the remaining text. What
    starts inside a strict call is text of that call and skipped; a finder that reads something
    supersedes the strict calls inside it (an example call in a file being written is not made),
    and claims what it read so later finders skip it.
    """

    def __init__(self, content: str, known: frozenset[str]) -> None:
        self.content = content
        self.known = known
        self.claimed = _Spans()
        self.superseded = _Spans()
        self.strict_spans = _Spans()
        self.strict_ends: dict[int, int] = {}
        self.strict_calls: list[tuple[int, ToolCall]] = []
        self.found: list[tuple[int, ToolCall | str]] = []
        self.repair_left = _REPAIR_BUDGET
        self.repairs = 0
        self.walk_left = _WALK_BUDGET
        names = "|".join(re.escape(name) for name in sorted(known, key=len, reverse=True))
        quote = "[\"']"
        name_is = rf"{quote}name{quote}\s*:\s*{quote}(?:functions\.)?(?:{names}){quote}"
        argument_key = "|".join(_ARGUMENT_KEYS)
        self.call_start = re.compile(rf"\{{\s*{name_is}")
        self.call_middle = re.compile(rf"{name_is}\s*,\s*{quote}(?:{argument_key}){quote}\s*:")
        self.mentions_call = re.compile(
            rf"{quote}?\bname{quote}?\s*[:=]\s*{quote}?(?:functions\.)?({names})(?![\w.\-])"
        )

    def run(self) -> TextToolScan:
        content = self.content
        if not self.known or not content:
            return TextToolScan()
        self._strict()
        if "<|" in content:
            self._harmony()
        if "to=functions." in content:
            self._loose_harmony()
        self._containers()
        self._candidates(0, len(content))
        if "(" in content:
            self._python_calls()
        found = self.found + [
            (position, call)
            for position, call in self.strict_calls
            if self.superseded.end_of(position) is None
        ]
        found.sort(key=lambda item: item[0])  # stable: one container keeps its order
        calls = [item for _, item in found if isinstance(item, ToolCall)]
        messages = [item for _, item in found if isinstance(item, str)]
        return TextToolScan(calls=calls, malformed=list(dict.fromkeys(messages)))

    def _python_calls(self) -> None:
        parameters = {
            name: list(ARG_MODELS[name].model_fields) for name in self.known if name in ARG_MODELS
        }
        python = find_python_calls(self.content, parameters)
        for position, call in python.calls:
            if not self._taken(position):
                self._call(position, call)
        for position, message in python.problems:
            if not self._taken(position):
                self._problem(position, message)

    # Results.

    def _call(self, position: int, call: ToolCall) -> None:
        self.found.append((position, call))

    def _problem(self, position: int, message: str) -> None:
        self.found.append((position, message))

    def _claim(self, start: int, end: int, found_before: int) -> None:
        """Mark ``[start, end)`` read; if reading it found anything, strict calls inside it were
        part of its text."""
        self.claimed.add(start, end)
        if len(self.found) > found_before:
            self.superseded.add(start, end)

    def _taken(self, position: int) -> bool:
        return (
            self.claimed.end_of(position) is not None
            or self.strict_spans.end_of(position) is not None
        )

    # Reading.

    def _read(self, text: str) -> _Reading:
        """The JSON values in ``text``, repaired when it is almost-JSON, or why it cannot be."""
        values, error = _strict_values(text)
        if values is not None:
            return _Reading(values)
        if len(text) > self.walk_left:
            return _Reading([], error=f"{error}, and it is too long to repair")
        self.walk_left -= len(text)
        python = _PYTHON_STYLE.search(text) is not None
        walked = _walk(text, 0, len(text), one_value=False, python=python)
        if walked.depth > _MAX_DEPTH:
            return _Reading([], error=f"{error}, and it is nested too deeply to repair")
        if walked.cut_off:
            # Closing the string would run a truncated call (half a file written).
            return _Reading([], error="it ends inside a string, so the reply was cut off")
        normalized = walked.text
        values, _ = _strict_values(normalized, _LENIENT)
        if values is not None:  # the walk's rewrites were all it needed: an exact reading
            return _Reading(values)
        opening = _START.search(normalized)
        if opening is None:
            return _Reading([], error=error)
        normalized = normalized[opening.start() :]  # prose before the call is not part of it
        if len(normalized) > self.repair_left or self.repairs >= _MAX_REPAIRS:
            return _Reading([], error=f"{error}, and it is too long to repair")
        self.repair_left -= len(normalized)
        self.repairs += 1
        try:
            value: Any = json_repair.repair_json(normalized, return_objects=True)
        except Exception:  # RecursionError, ValueError on hopeless input
            return _Reading([], error=error)
        if value is None or isinstance(value, str):  # "" is json_repair's "nothing here"
            return _Reading([], error=error)
        lost = _lost_text(normalized, value)
        if lost:
            return _Reading([], error=f"{error}, and repairing it would drop {lost!r}")
        return _Reading([value], repaired=True)

    def _read_arguments(self, text: str) -> tuple[dict[str, Any] | None, str]:
        stripped = text.strip()
        if not stripped:
            return {}, ""
        reading = self._read(stripped)
        if reading.error is not None:
            return None, reading.error
        if len(reading.values) != 1:
            return None, "it holds several JSON values where one object of arguments belongs"
        arguments = _as_object(reading.values[0])
        if arguments is None:
            return None, f"its arguments must be a JSON object, not {_kind(reading.values[0])}"
        odd = _odd_keys(arguments) if reading.repaired else []
        if odd:
            return None, _swallowed(odd)
        return arguments, ""

    def _interpret(self, position: int, reading: _Reading, explicit: bool) -> bool:
        """Record the calls (and call-shaped mistakes) in ``reading``; whether any object in it
        was shaped like a call (an echoed definition is, and is rightly ignored)."""
        seen = False
        for value in reading.values:
            for item in _call_items(value):
                seen = True
                call = _call_from(item, self.known)
                if call is not None:
                    odd = _odd_keys(call.arguments) if reading.repaired else []
                    if odd:
                        self._problem(position, _unreadable(call.name, _swallowed(odd)))
                    else:
                        self._call(position, call)
                    continue
                message = _explain(item, self.known, explicit)
                if message is not None:
                    self._problem(position, message)
        return seen

    def _args_call(self, position: int, name: str, text: str) -> None:
        if name not in self.known:
            self._problem(position, _unknown(name, self.known))
            return
        arguments, why = self._read_arguments(text)
        if arguments is None:
            self._problem(position, _unreadable(name, why))
        else:
            self._call(position, ToolCall(name=name, arguments=arguments))

    def _value_end(self, start: int, limit: int) -> int:
        """The end of the object starting at ``start``: exact for JSON, else bracket-matched."""
        try:
            return _DECODER.raw_decode(self.content, start)[1]
        except (ValueError, RecursionError):
            pass
        span = min(limit, start + _REPAIR_BUDGET, start + self.walk_left)
        stop = _walk(self.content, start, span, one_value=True).stop
        self.walk_left -= stop - start
        return stop

    # Finders.

    def _strict(self) -> None:
        """Every strict JSON call: objects, lists, wrappers, Mistral ``[TOOL_CALLS]`` prefixes."""
        content = self.content
        position = 0
        attempts = 0
        length = len(content)
        while position < length:
            match = _START.search(content, position)
            if match is None:
                break
            begin = match.start()
            attempts += 1
            if attempts > _MAX_ATTEMPTS:
                logger.debug("gave up scanning for text tool calls after %d attempts", attempts)
                break
            try:
                value, stop = _DECODER.raw_decode(content, begin)
            except (ValueError, RecursionError):
                position = begin + 1
                continue
            # A decoded value is skipped whole either way: a non-call's inner braces are data.
            name = _mistral_name_before(content, begin)
            if name is None:
                calls = _calls_from(value, self.known)
            else:
                arguments = _as_object(value) if name in self.known else None
                calls = [ToolCall(name=name, arguments=arguments)] if arguments is not None else []
            if calls:
                self.strict_spans.add(begin, stop)
                self.strict_ends[begin] = stop
                self.strict_calls.extend((begin, call) for call in calls)
            position = stop

    def _harmony(self) -> None:
        for part in _harmony_parts(self.content):
            if part.kind == "text" or self.strict_spans.end_of(part.start) is not None:
                continue  # plain text, or harmony tokens inside a call's strings
            before = len(self.found)
            if part.kind == "message" and part.recipient is not None:
                body = self.content[part.body_start : part.body_end]
                self._args_call(part.start, clean_tool_name(part.recipient), body)
                self._claim(part.start, part.end, before)
            elif part.kind == "header" or part.channel == "analysis":
                # Reasoning: a call it only mentions is not made.
                self.claimed.add(part.start, part.end)
                self.superseded.add(part.start, part.end)

    def _loose_harmony(self) -> None:
        content = self.content
        for match in _LOOSE_HARMONY.finditer(content):
            if self._taken(match.start()):
                continue
            limit = content.find("<|", match.end())
            end = self._value_end(match.end(), len(content) if limit < 0 else limit)
            before = len(self.found)
            name = clean_tool_name(match.group(1))
            self._args_call(match.start(), name, content[match.end() : end])
            self._claim(match.start(), end, before)

    def _candidates(self, start: int, end: int) -> None:
        """Objects in plain text that start like a call to a known tool, repaired when needed."""
        content = self.content
        begins: set[int] = set()
        for count, match in enumerate(self.call_start.finditer(content, start, end)):
            if count >= _MAX_CANDIDATES:
                break
            begins.add(match.start())
        for count, match in enumerate(self.call_middle.finditer(content, start, end)):
            if count >= _MAX_CANDIDATES:
                break
            begin = _open_brace_before(content, match.start(), start)
            if begin is not None:
                begins.add(begin)
        for begin in sorted(begins)[:_MAX_CANDIDATES]:
            if self._taken(begin):
                continue
            boundary = _BOUNDARY.search(content, begin + 1, end)
            stop = self._value_end(begin, boundary.start() if boundary else end)
            before = len(self.found)
            reading = self._read(content[begin:stop])
            if reading.error is None:
                self._interpret(begin, reading, explicit=False)
            else:
                mention = self.mentions_call.search(content, begin, stop)
                name = mention.group(1) if mention else None
                self._problem(begin, _unreadable(name, reading.error))
            self._claim(begin, stop, before)

    def _containers(self) -> None:
        """Fences, <tool_call> tags and <function=...> blocks, outermost first: one that starts
        inside a container already read (or inside a strict call's strings) is its text."""
        content = self.content
        openings: list[tuple[int, str]] = []
        if "```" in content:
            position = 0
            while len(openings) < _MAX_CONTAINERS:
                start = content.find("```", position)
                if start < 0:
                    break
                inside = self.claimed.end_of(start) or self.strict_spans.end_of(start)
                if inside is not None:
                    position = inside
                    continue
                openings.append((start, "fence"))
                position = max(_fence_at(content, start)[3], start + 3)
        for kind, pattern in (("tag", _TOOL_CALL_OPEN), ("function", _FUNCTION_OPEN)):
            for count, match in enumerate(pattern.finditer(content)):
                if count >= _MAX_CONTAINERS:
                    break
                openings.append((match.start(), kind))
        for start, kind in sorted(openings):
            if self._taken(start):
                continue
            if kind == "fence":
                self._fence(start)
            elif kind == "tag":
                self._tool_call_tag(start)
            else:
                self._function_tag(start)

    def _fence(self, start: int) -> None:
        content = self.content
        lang, body_start, body_end, end = _fence_at(content, start)
        body = content[body_start:body_end]
        lead = body_start + len(body) - len(body.lstrip())
        call_end = self.strict_ends.get(lead)
        if call_end is not None and call_end > body_end:
            # The call's own strings hold a fence; this one closes after the call.
            body_end = call_end
            closing = _FENCE_AFTER.match(content, call_end)
            end = closing.end() if closing else call_end
        if content.startswith(("<tool_call>", "<function=", "<|"), lead):
            return  # transparent: the container inside is read on its own
        call_lang = lang.lower() in _CALL_FENCE_LANGS
        mentions = self.mentions_call.search(content, body_start, body_end) is not None
        starts_value = content.startswith(("{", "["), lead)
        if (starts_value and (call_lang or mentions)) or (call_lang and mentions):
            self._container(start, body_start, body_end, end, explicit=False)
        elif not call_lang:
            # Ordinary code: almost-JSON and tags in it are data, never turned into calls.
            self.claimed.add(start, end)

    def _tool_call_tag(self, start: int) -> None:
        content = self.content
        body_start = start + len("<tool_call>")
        closing = _TOOL_CALL_END.search(content, body_start)
        body_end = closing.start() if closing else len(content)
        end = closing.end() if closing and closing.group() == "</tool_call>" else body_end
        body = content[body_start:body_end]
        lead = body_start + len(body) - len(body.lstrip())
        call_end = self.strict_ends.get(lead)
        if call_end is not None and call_end > body_end:
            # The call's own strings hold a tag; this one closes after the call.
            body_end = call_end
            after = _TAG_AFTER.match(content, call_end)
            end = after.end() if after else call_end
        if content.startswith(("```", "<function=", "<|"), lead):
            return  # transparent: the container inside is read on its own
        if not (
            content.startswith(("{", "["), lead)
            or self.mentions_call.search(content, body_start, body_end)
        ):
            return  # prose about the tag, not a call
        self._container(start, body_start, body_end, end, explicit=True)

    def _function_tag(self, start: int) -> None:
        content = self.content
        match = _FUNCTION_OPEN.match(content, start)
        if match is None:
            return
        closing = _FUNCTION_END.search(content, match.end())
        body_end = closing.start() if closing else len(content)
        end = closing.end() if closing and closing.group() == "</function>" else body_end
        body = content[match.end() : body_end]
        lead = match.end() + len(body) - len(body.lstrip())
        if content.startswith("{", lead):
            try:
                json_end = _DECODER.raw_decode(content, lead)[1]
            except (ValueError, RecursionError):
                json_end = lead
            if json_end > body_end:  # the arguments' strings hold a closing tag
                body_end = json_end
                after = _FUNCTION_AFTER.match(content, json_end)
                end = after.end() if after else json_end
                body = content[match.end() : body_end]
        closed = closing is not None and closing.group() in ("</function>", "</tool_call>")
        if not body.strip() and not closed:
            return  # "<function=a><function=b>...": an empty, unclosed tag is no call
        name = clean_tool_name(match.group(1))
        before = len(self.found)
        if name not in self.known:
            self._problem(start, _unknown(name, self.known))
        elif "<parameter=" in body:
            self._call(start, ToolCall(name=name, arguments=_xml_parameters(body)))
        else:  # Llama-3.1 style: <function=name>{"path": "a"}</function>
            arguments, why = self._read_arguments(body)
            if arguments is None:
                why = (
                    "its body has neither <parameter=NAME>value</parameter> tags nor a JSON "
                    f"object of arguments ({why})"
                )
                self._problem(start, _unreadable(name, why))
            else:
                self._call(start, ToolCall(name=name, arguments=arguments))
        self._claim(start, end, before)

    def _container(
        self, start: int, body_start: int, body_end: int, end: int, explicit: bool
    ) -> None:
        """Read a fence or <tool_call> body; ``explicit`` when the container itself says "call"."""
        content = self.content
        body = content[body_start:body_end]
        before = len(self.found)
        values, stop, _ = _strict_prefix(body)
        if values:
            seen = self._interpret(start, _Reading(values), explicit)
            self._claim(start, body_start + stop, before)
            if body[stop:].strip():  # a readable call, then more: maybe a broken second call
                self._candidates(body_start + stop, body_end)
            self.claimed.add(start, end)
            if not seen and explicit and len(self.found) == before:
                self._problem(start, _unreadable(None, 'it has no "name" of a known tool'))
            return
        reading = self._read(body.strip())
        seen = reading.error is None and self._interpret(start, reading, explicit)
        error = reading.error
        if not seen:
            mention = self.mentions_call.search(content, body_start, body_end)
            if explicit or mention is not None:
                why = error or 'it is not a JSON object with the tool\'s "name" and "arguments"'
                self._problem(start, _unreadable(mention.group(1) if mention else None, why))
        self._claim(start, end, before)


def _lost_text(source: str, value: Any) -> str:
    """Letters, digits and symbols of ``source`` missing from the repaired ``value``.

    A faithful repair only adds or moves quotes, brackets, commas, colons, backslashes and
    whitespace (Python literals were respelled before it); json_repair also drops what it cannot
    place (``"content": <<<EOF``), and a call built from that would write the wrong text.
    """
    rendered = json.dumps(value, ensure_ascii=False)
    missing = _significant(source) - _significant(rendered)
    return "".join(sorted(missing.elements()))[:20]


def _significant(text: str) -> Counter[str]:
    return Counter(char for char in text.lower() if not char.isspace() and char not in _LAYOUT)


def _swallowed(odd: list[str]) -> str:
    shown = ", ".join(repr(key[:40]) for key in odd[:3])
    return (
        f"repairing its JSON gave argument names like {shown}, so a string was probably left "
        "open or held an unescaped quote"
    )


def _xml_parameters(body: str) -> dict[str, Any]:
    """Qwen3-Coder's ``<parameter=p>value</parameter>`` pairs; values stay raw text.

    Values are not parsed as JSON: without the schema a "42" meant as file text would become a
    number, while the executor's argument models already accept "42" or "true" for number and
    boolean parameters.
    """
    arguments: dict[str, Any] = {}
    for match in _PARAMETER_OPEN.finditer(body):
        closing = _PARAMETER_END.search(body, match.end())
        value = body[match.end() : closing.start() if closing else len(body)]
        # The model puts the value on its own lines; exactly one newline each side is layout.
        value = value.removeprefix("\n").removesuffix("\n")
        arguments[match.group(1)] = value
    return arguments


def _fence_at(content: str, start: int) -> tuple[str, int, int, int]:
    """The markdown fence opening at ``start``: (language, body start, body end, end). It closes
    at the next ``` that starts a line or follows a closing bracket; unclosed, at the end."""
    lang_match = _FENCE_LANG.match(content, start + 3)
    lang = lang_match.group() if lang_match else ""
    lang_end = start + 3 + len(lang)
    newline = content.find("\n", lang_end)
    line_end = len(content) if newline < 0 else newline
    # "```json{...}```" has its body on the opening line.
    body_start = line_end + 1 if not content[lang_end:line_end].strip() else lang_end
    body_start = min(body_start, len(content))
    position = body_start
    while True:
        found = content.find("```", position)
        if found < 0:
            return lang, body_start, len(content), len(content)
        if _closes_fence(content, found):
            return lang, body_start, found, found + 3
        position = found + 3


def _closes_fence(content: str, position: int) -> bool:
    before = position - 1
    while before >= 0 and content[before] in " \t":
        before -= 1
    return before < 0 or content[before] in "\n}]"


def _open_brace_before(content: str, position: int, floor: int) -> int | None:
    """The ``{`` that opens the object holding ``position`` (brackets counted, strings not)."""
    depth = 0
    for index in range(position - 1, max(floor, position - 2000) - 1, -1):
        char = content[index]
        if char == "}":
            depth += 1
        elif char == "{":
            if depth == 0:
                return index
            depth -= 1
    return None


def _mistral_name_before(content: str, start: int) -> str | None:
    """The function name of a ``[TOOL_CALLS]name[ARGS]`` prefix ending right at ``start``."""
    offset = max(0, start - 200)
    window = content[offset:start]
    match = None
    for candidate in _MISTRAL_PREFIX.finditer(window):
        match = candidate
    if match is None or match.end() != len(window):
        return None
    return match.group(1)
