"""A fake Ollama server for tests: real HTTP on loopback, scripted /api/chat replies.

In-process::

    with FakeOllama() as fake:
        fake.enqueue(Reply.calls(call("read_file", {"path": "a.py"})), "All done.")
        ...  # point the client at fake.url
        assert fake.last_chat["options"]["num_ctx"] == 8192

Other processes: ``python -m tests.fake_ollama [--port N] [--script FILE.json]`` prints
``{"url": ...}`` on one line, then serves; script it with ``POST /_fake/enqueue``, read
``GET /_fake/requests``, clear with ``POST /_fake/reset``, open a gate with ``POST /_fake/gate``.
"""

from .replies import AUTO, Reply, call, new_call_id, replies_from_json
from .server import (
    DEFAULT_MODELS,
    DEFAULT_NUM_CTX,
    FakeModel,
    FakeOllama,
    RecordedRequest,
    go_json,
    models_from_json,
)

__all__ = [
    "AUTO",
    "DEFAULT_MODELS",
    "DEFAULT_NUM_CTX",
    "FakeModel",
    "FakeOllama",
    "RecordedRequest",
    "Reply",
    "call",
    "go_json",
    "models_from_json",
    "new_call_id",
    "replies_from_json",
]
