"""Every ```python and ```bash block of README.md and docs/*.md runs as written (issue 11).

Each document runs in its own empty folder, block after block in document order, as a reader would
go through it: the Python blocks share one namespace (later examples use the ``dataset`` and
``split`` of earlier ones), and a bash block runs its ``explorec`` commands (lines joined at a
trailing ``\\``) as a real subprocess, after applying its ``export`` lines. Other shell lines
(``make demo``, ``make test``) are not run: they set up the environment this test runs in.

The folder has a sibling ``shared`` that links to the real shared folder, so the ``../shared/datasets``
paths of the README resolve as they do from a checkout.

A block may carry a marker, an HTML comment on the line just above its fence, visible in the source:

* ``<!-- docs-test: with "A" -> "B", ...; because ... -->`` runs the block with these substitutions
  (small settings for long jobs, e.g. 1 training epoch instead of 30);
* ``<!-- docs-test: skip; because ... -->`` does not run it.

Both need a reason, and :data:`MAX_MARKED` bounds how many blocks may carry one, so that they stay rare;
the test prints every marked block. A block running ``explorec serve`` (a server that runs until
stopped) fails unless skipped. ``docs/BENCHMARKS.md`` and ``docs/benchmarks/`` are not run: their
commands are the benchmarks themselves (``bench/``), hours of runs on an idle machine.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    [ROOT / "README.md", *(p for p in (ROOT / "docs").glob("*.md") if p.name != "BENCHMARKS.md")]
)
#: at most this many blocks in all documents may carry a docs-test marker
MAX_MARKED = 12

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
_MARKER = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->\s*$", re.S)
_SUBSTITUTION = re.compile(r'"([^"]*)"\s*->\s*"([^"]*)"')


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language, its code and its marker (or "")."""

    document: Path
    line: int
    language: str
    code: str
    marker: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"

    @property
    def skipped(self) -> bool:
        return self.marker.startswith("skip")

    def runnable_code(self) -> str:
        """The code with the marker's substitutions applied (each must match)."""
        code = self.code
        for old, new in _SUBSTITUTION.findall(self.marker):
            assert old in code, f"{self.where}: docs-test substitution {old!r} matches nothing"
            code = code.replace(old, new)
        return code


def blocks(document: Path) -> list[Block]:
    text = document.read_text(encoding="utf-8")
    out = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        out.append(
            Block(
                document,
                text.count("\n", 0, match.start()) + 1,
                match.group(1).lower(),
                match.group(2),
                marker.group(1) if marker else "",
            )
        )
    return out


def shell_commands(code: str) -> tuple[dict[str, str], list[str]]:
    """(variables of the ``export`` lines, the ``explorec`` command lines) of a bash block."""
    env: dict[str, str] = {}
    commands: list[str] = []
    for line in code.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if line.startswith("export "):
            for assignment in shlex.split(line[len("export ") :]):
                key, _, value = assignment.partition("=")
                env[key] = value
        elif line.startswith("explorec "):
            commands.append(line)
    return env, commands


def _run_python(block: Block, namespace: dict[str, object]) -> None:
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            exec(compile(block.runnable_code(), block.where, "exec"), namespace)
    except Exception:
        pytest.fail(f"{block.where}: python block failed\n{traceback.format_exc()}\n{output.getvalue()}")


def _run_bash(block: Block, env: dict[str, str]) -> None:
    exports, commands = shell_commands(block.runnable_code())
    env.update(exports)
    for command in commands:
        if command.startswith("explorec serve"):  # would hang the suite rather than fail it
            pytest.fail(
                f"{block.where}: `{command}` runs until stopped; put it in a block marked docs-test: skip"
            )
        argv = [sys.executable, "-m", "explorec", *shlex.split(command)[1:]]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            pytest.fail(
                f"{block.where}: `{command}` exited {done.returncode}\n"
                f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
            )


def test_markers_are_rare_justified_and_listed(capsys: pytest.CaptureFixture[str]) -> None:
    marked = [b for d in DOCUMENTS for b in blocks(d) if b.marker]
    with capsys.disabled():
        for block in marked:
            print(f"\n{block.where}: docs-test: {block.marker}")
    assert len(marked) <= MAX_MARKED, [b.where for b in marked]
    for block in marked:
        assert "because" in block.marker, f"{block.where}: a docs-test marker must say why (because ...)"
        assert block.skipped or _SUBSTITUTION.search(block.marker), f'{block.where}: skip or with "A" -> "B"'


def test_every_document_has_runnable_blocks() -> None:
    readme = blocks(ROOT / "README.md")
    assert any(b.language == "python" for b in readme) and any(b.language == "bash" for b in readme)
    assert shell_commands(
        "export A=1 B=2\nexplorec data list   # comment\nexplorec x \\\n  --y 1\nmake demo\n"
    ) == (
        {"A": "1", "B": "2"},
        ["explorec data list", "explorec x    --y 1"],
    )


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(d.relative_to(ROOT)) for d in DOCUMENTS])
def test_document_blocks_run_as_written(
    document: Path, datasets_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "shared").symlink_to(datasets_dir.resolve().parent, target_is_directory=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("EXPLOREC_DATA_DIR", str(datasets_dir))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "EXPLOREC_DATA_DIR": str(datasets_dir),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    for block in blocks(document):
        if block.skipped or block.language not in ("python", "bash"):
            continue
        if block.language == "python":
            _run_python(block, namespace)
        else:
            _run_bash(block, env)
        ran += 1
    assert ran > 0 or all(b.skipped for b in blocks(document) if b.language in ("python", "bash"))
