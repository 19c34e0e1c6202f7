"""Path confinement: the model can only name files inside the workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ollama_agent_ls.workspace.paths import (
    PathRefused,
    is_ignored_dir,
    iter_workspace_files,
    resolve_path,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "main.py").write_text("print(1)\n")
    return ws.resolve()


def test_relative_path_resolves_inside_root(root: Path) -> None:
    path, rel = resolve_path(root, "src/main.py")
    assert path == root / "src" / "main.py"
    assert rel == "src/main.py"


@pytest.mark.parametrize(
    "raw",
    ["./src/main.py", " src/main.py\n", "'src/main.py'", '"src/main.py"', "`src/main.py`"],
)
def test_forms_small_models_write_are_accepted(root: Path, raw: str) -> None:
    assert resolve_path(root, raw)[1] == "src/main.py"


def test_absolute_path_inside_root_and_file_uri(root: Path) -> None:
    assert resolve_path(root, str(root / "src" / "main.py"))[1] == "src/main.py"
    assert resolve_path(root, (root / "src" / "main.py").as_uri())[1] == "src/main.py"


def test_new_file_may_be_named(root: Path) -> None:
    path, rel = resolve_path(root, "pkg/new.py", for_write=True)
    assert rel == "pkg/new.py"
    assert path == root / "pkg" / "new.py"


@pytest.mark.parametrize("raw", ["", "   ", "''"])
def test_empty_path_refused(root: Path, raw: str) -> None:
    with pytest.raises(PathRefused, match="empty"):
        resolve_path(root, raw)


def test_refusal_names_path_root_and_fix(root: Path) -> None:
    with pytest.raises(PathRefused) as info:
        resolve_path(root, "../secret.txt")
    message = str(info.value)
    assert "../secret.txt" in message
    assert str(root) in message
    assert "use a path relative to the workspace root" in message


def test_absolute_path_outside_refused(root: Path) -> None:
    with pytest.raises(PathRefused, match="absolute path outside"):
        resolve_path(root, "/etc/passwd")
    with pytest.raises(PathRefused):
        resolve_path(root, "file:///etc/passwd")


def test_home_relative_path_is_expanded(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(root.parent))
    assert resolve_path(root, f"~/{root.name}/src/main.py")[1] == "src/main.py"
    with pytest.raises(PathRefused, match="outside"):
        resolve_path(root, "~/elsewhere.txt")


def test_dotdot_that_stays_inside_is_fine(root: Path) -> None:
    assert resolve_path(root, "src/../src/main.py")[1] == "src/main.py"


def test_symlink_escape_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    os.symlink(outside, root / "link")
    os.symlink(outside / "secret.txt", root / "secret_link.txt")
    for raw in ("link/secret.txt", "secret_link.txt", "link/new.txt"):
        with pytest.raises(PathRefused, match="symlink"):
            resolve_path(root, raw, for_write=True)


def test_symlink_inside_root_resolves_to_target(root: Path) -> None:
    os.symlink(root / "src" / "main.py", root / "alias.py")
    path, rel = resolve_path(root, "alias.py", for_write=True)
    assert rel == "src/main.py"
    assert path == root / "src" / "main.py"


@pytest.mark.parametrize("raw", [".git", ".git/config", "sub/.git/HEAD", "src/../.git/hooks/x"])
def test_writes_into_git_refused(root: Path, raw: str) -> None:
    with pytest.raises(PathRefused, match=r"\.git"):
        resolve_path(root, raw, for_write=True)
    # Reading is allowed: the model may look at .git/HEAD.
    assert resolve_path(root, raw)[0].is_relative_to(root)


def test_root_itself_is_not_a_writable_file(root: Path) -> None:
    with pytest.raises(PathRefused, match="root directory"):
        resolve_path(root, ".", for_write=True)


segments = st.sampled_from(["..", ".", "a", "b", "src", "..", "x.py", ""])


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(parts=st.lists(segments, min_size=1, max_size=8), leading_slash=st.booleans())
def test_traversal_never_escapes_root(root: Path, parts: list[str], leading_slash: bool) -> None:
    raw = ("/" if leading_slash else "") + "/".join(parts)
    try:
        path, rel = resolve_path(root, raw)
    except PathRefused:
        return
    assert path == root or root in path.parents
    assert not rel.startswith("..")


def test_ignored_dir_names() -> None:
    for name in (".git", "node_modules", ".venv", "__pycache__", ".mypy_cache", "x.egg-info"):
        assert is_ignored_dir(name)
    assert not is_ignored_dir("src")


def test_workspace_walk_honours_gitignore_and_skips_tool_dirs(root: Path) -> None:
    (root / ".gitignore").write_text("*.log\nbuild/\n!keep.log\n")
    (root / "app.log").write_text("x")
    (root / "keep.log").write_text("x")
    (root / "build").mkdir()
    (root / "build" / "out.js").write_text("x")
    (root / "src" / ".gitignore").write_text("generated.py\n")
    (root / "src" / "generated.py").write_text("x")
    (root / "node_modules" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "pkg" / "index.js").write_text("x")
    (root / "env").mkdir()
    (root / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "env" / "lib.py").write_text("x")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref")
    files = sorted(iter_workspace_files(root))
    assert files == [".gitignore", "keep.log", "src/.gitignore", "src/main.py"]


def test_workspace_walk_honours_git_info_exclude_under_gitignore(root: Path) -> None:
    (root / ".git" / "info").mkdir(parents=True)
    (root / ".git" / "info" / "exclude").write_text("*.tmp\nscratch/\n")
    (root / "notes.tmp").write_text("x")
    (root / "keep.tmp").write_text("x")
    (root / "scratch").mkdir()
    (root / "scratch" / "a.py").write_text("x")
    # A .gitignore overrides the exclude file, as in git.
    (root / ".gitignore").write_text("!keep.tmp\n")
    files = sorted(iter_workspace_files(root))
    assert files == [".gitignore", "keep.tmp", "src/main.py"]


def test_a_link_can_be_named_without_following_it(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    os.symlink(outside, root / "src" / "link.txt")
    with pytest.raises(PathRefused, match="symlink that points outside"):
        resolve_path(root, "src/link.txt", for_write=True)
    path, rel = resolve_path(root, "src/link.txt", for_write=True, follow_symlinks=False)
    assert path == root / "src" / "link.txt"
    assert rel == "src/link.txt"


def test_not_following_the_last_link_still_confines_its_directory(
    root: Path, tmp_path: Path
) -> None:
    os.symlink(tmp_path, root / "up")
    with pytest.raises(PathRefused, match="outside the workspace"):
        resolve_path(root, "up/anything", follow_symlinks=False)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=300))
def test_any_name_is_resolved_or_refused_with_a_message(root: Path, name: str) -> None:
    # Never an OSError, UnicodeError or RuntimeError, whatever the model writes.
    try:
        path, _rel = resolve_path(root, f"src/{name}", for_write=True)
    except PathRefused as exc:
        assert "is refused" in str(exc)
        return
    assert len(os.fsencode(path.name)) <= 255
    assert path.is_relative_to(root)
