"""A fake OpenAI-compatible server for tests: real HTTP on loopback, llama.cpp's or vLLM's dialect.

In-process::

    with FakeOpenAI("llamacpp") as fake:           # or FakeOpenAI("vllm", api_key="sk-test")
        fake.enqueue(Reply.calls(call("read_file", {"path": "a.py"}, pieces=4)), "All done.")
        ...  # point the client at fake.url (it ends in /v1)
        assert fake.last_chat["stream_options"] == {"include_usage": True}

Other processes: ``python -m tests.fake_openai [--flavor vllm] [--api-key K] [--script FILE]``
prints ``{"url": ..., "root": ...}`` on one line, then serves; script it with
``POST /_fake/enqueue``, read ``GET /_fake/requests``, clear with ``POST /_fake/reset``, open a
gate with ``POST /_fake/gate``, replace the models with ``POST /_fake/models``.
"""

from .replies import AUTO, Call, Reply, call, new_call_id, replies_from_json
from .server import (
    BUILD_INFO,
    DEFAULT_MODEL,
    FLAVORS,
    VLLM_VERSION,
    FakeOpenAI,
    FakeServedModel,
    Flavor,
    RecordedRequest,
    compact_json,
)

__all__ = [
    "AUTO",
    "BUILD_INFO",
    "DEFAULT_MODEL",
    "FLAVORS",
    "VLLM_VERSION",
    "Call",
    "FakeOpenAI",
    "FakeServedModel",
    "Flavor",
    "RecordedRequest",
    "Reply",
    "call",
    "compact_json",
    "new_call_id",
    "replies_from_json",
]
