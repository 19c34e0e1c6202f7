"""The file tools on a real workspace on disk, as the model calls them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ollama_agent_ls.settings import Settings
from ollama_agent_ls.tools import file_tools
from ollama_agent_ls.tools.context import ToolContext, ToolError
from ollama_agent_ls.tools.edit_matcher import EditAmbiguous, EditNoMatch
from ollama_agent_ls.tools.placeholders import find_placeholders
from ollama_agent_ls.workspace.changes import ChangeRejected, FileChange
from ollama_agent_ls.workspace.disk_sink import DiskSink
from ollama_agent_ls.workspace.documents import BinaryFile, DiskDocuments, NotUtf8
from ollama_agent_ls.workspace.paths import PathRefused

APP = 'def main():\n    print("hello")\n\n\nif __name__ == "__main__":\n    main()\n'


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = (tmp_path / "ws").resolve()
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "src" / "app.py").write_text(APP)
    (ws / "src" / "pkg" / "util.py").write_text("def helper():\n    return 42\n")
    (ws / "README.md").write_text("# Demo\n")
    return ws


@pytest.fixture
def ctx(root: Path) -> ToolContext:
    return ToolContext(
        root=root, documents=DiskDocuments(root), sink=DiskSink(root), settings=Settings()
    )


# read_file


async def test_read_file_numbers_lines(ctx: ToolContext) -> None:
    out = await file_tools.read_file(ctx, "src/app.py")
    assert out.splitlines()[0] == "     1\tdef main():"
    assert '     2\t    print("hello")' in out


async def test_read_file_range(ctx: ToolContext) -> None:
    out = await file_tools.read_file(ctx, "src/app.py", start_line=5, end_line=6)
    assert out.splitlines()[:2] == ['     5\tif __name__ == "__main__":', "     6\t    main()"]
    assert "Lines 5-6 of 6" in out


async def test_read_file_past_end_says_how_long_the_file_is(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="has 6 lines"):
        await file_tools.read_file(ctx, "src/app.py", start_line=50)


async def test_long_file_is_cut_with_directions(ctx: ToolContext, root: Path) -> None:
    (root / "big.txt").write_text("".join(f"row {i}\n" for i in range(1, 3001)))
    out = await file_tools.read_file(ctx, "big.txt")
    assert "  2000\trow 2000" in out
    assert "row 2001" not in out
    assert "start_line=2001" in out


async def test_missing_file_suggests_similar_paths(ctx: ToolContext) -> None:
    with pytest.raises(ToolError) as info:
        await file_tools.read_file(ctx, "app.py")
    assert "src/app.py" in str(info.value)
    assert "does not exist" in str(info.value)


async def test_read_refuses_paths_outside(ctx: ToolContext) -> None:
    with pytest.raises(PathRefused):
        await file_tools.read_file(ctx, "../../etc/passwd")


async def test_binary_and_non_utf8_files_are_reported(ctx: ToolContext, root: Path) -> None:
    (root / "img.png").write_bytes(b"\x89PNG\x00\x00data")
    (root / "latin.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(BinaryFile):
        await file_tools.read_file(ctx, "img.png")
    with pytest.raises(NotUtf8):
        await file_tools.edit_file(ctx, "latin.txt", "caf", "tea")
    assert (root / "latin.txt").read_bytes() == b"caf\xe9\n"


async def test_reads_go_through_the_document_source(ctx: ToolContext, root: Path) -> None:
    class Buffers(DiskDocuments):
        def read(self, path: Path):  # type: ignore[no-untyped-def]
            doc = super().read(path)
            return type(doc)(doc.text.replace("hello", "unsaved buffer"), version=3)

    ctx.documents = Buffers(root)
    assert "unsaved buffer" in await file_tools.read_file(ctx, "src/app.py")
    assert "src/app.py:2:" in await file_tools.search(ctx, "unsaved")


# list_files and search


async def test_list_files_is_sorted_and_gitignore_aware(ctx: ToolContext, root: Path) -> None:
    (root / ".gitignore").write_text("*.log\n")
    (root / "debug.log").write_text("x")
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "site.py").write_text("x")
    out = await file_tools.list_files(ctx)
    assert out.splitlines() == [".gitignore", "README.md", "src/app.py", "src/pkg/util.py"]


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("*.py", ["src/app.py", "src/pkg/util.py"]),
        ("src/*.py", ["src/app.py"]),
        ("**/pkg/*.py", ["src/pkg/util.py"]),
        ("*.{md,py}", ["README.md", "src/app.py", "src/pkg/util.py"]),
        ("src/pkg", ["src/pkg/util.py"]),
    ],
)
async def test_list_files_glob(ctx: ToolContext, glob: str, expected: list[str]) -> None:
    assert (await file_tools.list_files(ctx, glob)).splitlines() == expected


async def test_list_files_without_matches_suggests_a_broader_glob(ctx: ToolContext) -> None:
    out = await file_tools.list_files(ctx, "pkg/*.py")
    assert "No files match" in out
    assert "'**/pkg/*.py'" in out
    assert (await file_tools.list_files(ctx, ".")) == await file_tools.list_files(ctx)


async def test_list_files_is_capped(ctx: ToolContext, root: Path) -> None:
    (root / "many").mkdir()
    for i in range(520):
        (root / "many" / f"f{i:03}.txt").write_text("")
    out = await file_tools.list_files(ctx, "many/**")
    assert len(out.splitlines()) == 501
    assert "20 more files" in out


async def test_search_finds_lines(ctx: ToolContext, root: Path) -> None:
    (root / "blob.bin").write_bytes(b"\x00helper\x00")
    out = await file_tools.search(ctx, r"def \w+\(")
    assert out.splitlines() == ["src/app.py:1: def main():", "src/pkg/util.py:1: def helper():"]
    assert (
        await file_tools.search(ctx, "helper", "*.md")
        == "No matches for 'helper' in files matching '*.md'."
    )


async def test_search_invalid_regex_explains(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match=r"Invalid regex 'print\(': .*backslash"):
        await file_tools.search(ctx, "print(")


async def test_search_is_capped(ctx: ToolContext, root: Path) -> None:
    (root / "many.txt").write_text("hit\n" * 250)
    out = await file_tools.search(ctx, "hit")
    assert len([line for line in out.splitlines() if line.startswith("many.txt:")]) == 200
    assert "50 more matches" in out


# write_file


async def test_write_creates_file_and_records_change(ctx: ToolContext, root: Path) -> None:
    out = await file_tools.write_file(ctx, "src/new/mod.py", "x = 1\n")
    assert "Created src/new/mod.py" in out
    assert (root / "src" / "new" / "mod.py").read_text() == "x = 1\n"
    assert ctx.changed_paths == ["src/new/mod.py"]
    assert ctx.changes[0].kind == "create"


async def test_write_refuses_placeholders_when_replacing(ctx: ToolContext, root: Path) -> None:
    content = "def main():\n    # ... existing code ...\n    print('bye')\n"
    with pytest.raises(ToolError, match="edit_file") as info:
        await file_tools.write_file(ctx, "src/app.py", content)
    assert "existing code" in str(info.value)
    assert (root / "src" / "app.py").read_text() == APP


async def test_write_keeps_crlf(ctx: ToolContext, root: Path) -> None:
    (root / "win.txt").write_bytes(b"a\r\nb\r\n")
    await file_tools.write_file(ctx, "win.txt", "a\nc\n")
    assert (root / "win.txt").read_bytes() == b"a\r\nc\r\n"


async def test_write_into_git_is_refused(ctx: ToolContext, root: Path) -> None:
    (root / ".git").mkdir()
    with pytest.raises(PathRefused, match=r"\.git"):
        await file_tools.write_file(ctx, ".git/config", "x")


# edit_file


async def test_edit_replaces_and_reports_lines(ctx: ToolContext, root: Path) -> None:
    out = await file_tools.edit_file(ctx, "src/app.py", 'print("hello")', 'print("bye")')
    assert (root / "src" / "app.py").read_text() == APP.replace("hello", "bye")
    assert "lines 2-2" in out
    assert '     2\t    print("bye")' in out
    assert ctx.changes[-1] == FileChange(
        root / "src" / "app.py", "src/app.py", APP, APP.replace("hello", "bye")
    )


async def test_edit_reindents_and_says_so(ctx: ToolContext, root: Path) -> None:
    (root / "cls.py").write_text("class A:\n    def f(self):\n        return 1\n")
    out = await file_tools.edit_file(
        ctx, "cls.py", "def f(self):\n    return 1\n", "def f(self):\n    return 2\n"
    )
    assert "re-indented" in out
    assert (root / "cls.py").read_text() == "class A:\n    def f(self):\n        return 2\n"


async def test_edit_keeps_crlf_and_accepts_crlf_old_string(ctx: ToolContext, root: Path) -> None:
    (root / "win.py").write_bytes(b"a = 1\r\nb = 2\r\n")
    await file_tools.edit_file(ctx, "win.py", "a = 1\r\nb = 2", "a = 1\nb = 3\nc = 4")
    assert (root / "win.py").read_bytes() == b"a = 1\r\nb = 3\r\nc = 4\r\n"


async def test_edit_errors_reach_the_model(ctx: ToolContext) -> None:
    with pytest.raises(EditNoMatch, match=r"src/app\.py"):
        await file_tools.edit_file(ctx, "src/app.py", "print('nope')", "x")
    with pytest.raises(EditAmbiguous):
        await file_tools.edit_file(ctx, "src/app.py", "main()", "run()")
    with pytest.raises(ToolError, match="write_file"):
        await file_tools.edit_file(ctx, "src/missing.py", "a", "b")


async def test_edit_replace_all(ctx: ToolContext, root: Path) -> None:
    out = await file_tools.edit_file(ctx, "src/app.py", "main()", "run()", replace_all=True)
    assert "2 occurrences" in out
    assert (root / "src" / "app.py").read_text().count("run()") == 2


async def test_sink_rejection_propagates_and_nothing_is_recorded(ctx: ToolContext) -> None:
    class Refusing:
        async def apply(self, change: FileChange) -> None:
            raise ChangeRejected("the user closed the file")

    ctx.sink = Refusing()
    with pytest.raises(ChangeRejected):
        await file_tools.edit_file(ctx, "src/app.py", "hello", "bye")
    assert ctx.changes == []


# apply_patch and delete_file


async def test_apply_patch_across_files(ctx: ToolContext, root: Path) -> None:
    (root / "win.txt").write_bytes(b"one\r\ntwo\r\n")
    patch = (
        "--- a/src/pkg/util.py\n+++ b/src/pkg/util.py\n@@ -1,2 +1,2 @@\n def helper():\n"
        "-    return 42\n+    return 7\n"
        "--- a/win.txt\n+++ b/win.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+three\n"
        "--- /dev/null\n+++ b/src/pkg/__init__.py\n@@ -0,0 +1 @@\n+from .util import helper\n"
    )
    out = await file_tools.apply_patch(ctx, patch)
    assert "src/pkg/util.py (+1 -1 lines)" in out
    assert "src/pkg/__init__.py (created" in out
    assert (root / "src" / "pkg" / "util.py").read_text() == "def helper():\n    return 7\n"
    assert (root / "win.txt").read_bytes() == b"one\r\nthree\r\n"
    assert (root / "src" / "pkg" / "__init__.py").read_text() == "from .util import helper\n"


async def test_failed_patch_changes_nothing(ctx: ToolContext, root: Path) -> None:
    patch = (
        "--- a/src/pkg/util.py\n+++ b/src/pkg/util.py\n@@ -1,2 +1,2 @@\n def helper():\n"
        "-    return 42\n+    return 7\n"
        "--- a/src/app.py\n+++ b/src/app.py\n@@ -1 +1 @@\n-def not_there():\n+def x():\n"
    )
    with pytest.raises(ToolError, match=r"src/app\.py"):
        await file_tools.apply_patch(ctx, patch)
    assert (root / "src" / "pkg" / "util.py").read_text() == "def helper():\n    return 42\n"
    assert ctx.changes == []


async def test_patch_paths_are_confined(ctx: ToolContext) -> None:
    patch = "--- /dev/null\n+++ b/../escape.txt\n@@ -0,0 +1 @@\n+x\n"
    with pytest.raises(PathRefused):
        await file_tools.apply_patch(ctx, patch)


async def test_patch_rejected_midway_is_rolled_back(ctx: ToolContext, root: Path) -> None:
    disk = DiskSink(root)

    class SecondFails:
        async def apply(self, change: FileChange) -> None:
            if change.rel == "README.md" and change.after is not None and "Mine" in change.after:
                raise ChangeRejected("README.md changed on disk")
            await disk.apply(change)

    ctx.sink = SecondFails()
    patch = (
        "--- a/src/pkg/util.py\n+++ b/src/pkg/util.py\n@@ -2 +2 @@\n-    return 42\n+    return 7\n"
        "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# Demo\n+# Mine\n"
    )
    with pytest.raises(ChangeRejected, match="No file was changed"):
        await file_tools.apply_patch(ctx, patch)
    assert (root / "src" / "pkg" / "util.py").read_text() == "def helper():\n    return 42\n"


async def test_delete_file(ctx: ToolContext, root: Path) -> None:
    assert await file_tools.delete_file(ctx, "README.md") == "Deleted README.md."
    assert not (root / "README.md").exists()
    assert ctx.changes[-1].kind == "delete"
    with pytest.raises(ToolError, match="does not exist"):
        await file_tools.delete_file(ctx, "README.md")


# placeholder detection


@pytest.mark.parametrize(
    "line",
    [
        "# ... existing code ...",
        "    // ... rest of the code",
        "# rest of the file unchanged",
        "<!-- ... unchanged ... -->",
        "[... omitted ...]",
        "(rest of file)",
        "/* ... */",
        "// ...",
        "# ...",
        "    # ... (previous methods) ...",
        "// Rest of the implementation remains the same",
    ],
)
def test_placeholders_are_found(line: str) -> None:
    content = f"import os\n{line}\nprint(os.sep)\n"
    assert find_placeholders(content, "import os\nprint(1)\n") == [(2, line.strip())]


@pytest.mark.parametrize(
    "content",
    [
        "class P(Protocol):\n    def f(self) -> int:\n        ...\n",
        "x = [1, 2, 3]\nprint(x[...])\n",
        "# keep the rest of the list unchanged\nitems.sort()\n",
        "const merged = {...defaults, ...overrides};\n",
        "# TODO: handle the previous value\n",
    ],
)
def test_ordinary_code_is_not_a_placeholder(content: str) -> None:
    assert find_placeholders(content, "") == []


def test_placeholder_already_in_file_is_allowed() -> None:
    existing = "def f():\n    # ...\n    pass\n"
    assert find_placeholders(existing + "x = 1\n", existing) == []


def test_bare_ellipsis_between_statements_is_a_placeholder() -> None:
    assert find_placeholders("a = 1\n...\nb = 2\n", "a = 1\nb = 2\n") == [(2, "...")]
