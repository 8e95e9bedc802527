"""The command-line examples in README.md and docs/*.md are run and their output compared.

Clinicians and physicists copy commands from the documentation, so every example that
shows output must print exactly that output. Conventions:

- A fenced block whose info string is ``console`` is an example session. Each line
  starting with ``$ y90dose`` is a command (a line ending in a backslash continues on the
  next line); the lines after it, up to the next ``$`` line, are what it prints, standard
  output and standard error together, in order. The command must exit 0.
- ``$ echo $?`` after a command shows its exit code; the command must then exit with
  that code instead of 0 (``2`` for a refused input).
- In expected output, ``...`` inside a line matches any text on that line, and a line
  that is only ``...`` matches any number of lines (none included). Use it for volatile
  parts (paths, timestamps, durations) and for long output shown in part.
- An HTML comment ``<!-- docs-example: not run: REASON -->`` on the line just before a
  ``console`` block marks it as not run (it needs a server or large data); the test
  reports it as skipped with REASON. Keep these rare.
- The commands run in an empty temporary folder holding a copy of ``docs/examples`` as
  ``examples/``: an example reads its input files as ``examples/NAME`` and writes nothing
  into the repository.
- Other blocks (plain, ``sh``, ``bash``) are not run: they hold synopses and examples
  with placeholder paths. Every complete ``y90dose`` command line in them (one without
  synopsis brackets ``[ ]`` or ``|``) must still parse: its subcommand and options exist.

The commands run in-process through ``y90dose.cli.main.main`` (a few milliseconds each).

A ``pycon`` block is a Python session (``>>>`` prompts): it is run as a doctest
(ELLIPSIS on) in an empty temporary folder, so the Python API's examples stay true too.
Every command documented with a ``## `y90dose ...` `` heading in docs/usage.md must have
at least one example in its section.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from y90dose.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
USAGE = ROOT / "docs" / "usage.md"
EXAMPLES = ROOT / "docs" / "examples"
FENCE = re.compile(r"^```(?P<info>[\w-]*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*docs-example:\s*not run:\s*(?P<reason>.+?)\s*-->\s*$")
EXIT_CODE = "echo $?"


@dataclass(frozen=True)
class Block:
    """A fenced code block of a Markdown file."""

    path: Path
    line: int  # 1-based line number of the opening fence
    info: str
    lines: tuple[str, ...]
    not_run_reason: str | None
    heading: str  # the nearest ``##`` heading above the block


@dataclass(frozen=True)
class Example:
    """One ``$ y90dose ...`` command of a console block and what it should print."""

    block: Block
    line: int
    argv: tuple[str, ...]
    expected: tuple[str, ...]
    exit_code: int

    @property
    def id(self) -> str:
        return f"{self.block.path.name}:{self.line}:{' '.join(self.argv[:2])}"


def read_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path`` (fences are not nested in these docs)."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    heading = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            heading = line
        match = FENCE.match(line)
        if match is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path.name}:{index + 1}: code block is never closed")
        previous = lines[index - 1] if index > 0 else ""
        not_run = NOT_RUN.match(previous)
        blocks.append(
            Block(
                path=path,
                line=index + 1,
                info=match["info"],
                lines=tuple(lines[index + 1 : end]),
                not_run_reason=not_run["reason"] if not_run else None,
                heading=heading,
            )
        )
        index = end + 1
    return blocks


def _join_continuations(lines: tuple[str, ...], start: int) -> tuple[str, int]:
    """The command starting at ``lines[start]`` with backslash continuations joined."""
    text = lines[start]
    index = start
    while text.endswith("\\") and index + 1 < len(lines):
        index += 1
        text = text[:-1] + " " + lines[index].strip()
    return text, index


def console_examples(block: Block) -> list[Example]:
    """The commands of a ``console`` block, each with its expected output and exit code."""
    examples: list[Example] = []
    index = 0
    lines = block.lines
    if not lines or not lines[0].startswith("$ "):
        raise AssertionError(
            f"{block.path.name}:{block.line}: a console block starts with a '$ ' command line"
        )
    while index < len(lines):
        command, index = _join_continuations(lines, index)
        first_line = block.line + 1 + index
        argv = shlex.split(command[2:])
        if not argv or argv[0] != "y90dose":
            raise AssertionError(
                f"{block.path.name}:{first_line}: console examples run y90dose, not {command!r}"
            )
        index += 1
        expected: list[str] = []
        while index < len(lines) and not lines[index].startswith("$ "):
            expected.append(lines[index])
            index += 1
        exit_code = 0
        if index < len(lines) and lines[index] == f"$ {EXIT_CODE}":
            index += 1
            if index >= len(lines) or not lines[index].strip().isdigit():
                raise AssertionError(
                    f"{block.path.name}: '$ {EXIT_CODE}' must be followed by a code"
                )
            exit_code = int(lines[index])
            index += 1
        examples.append(Example(block, first_line, tuple(argv[1:]), tuple(expected), exit_code))
    return examples


def all_blocks() -> list[Block]:
    return [block for path in DOC_FILES for block in read_blocks(path)]


def all_examples() -> list[Example]:
    return [
        ex for block in all_blocks() if block.info == "console" for ex in console_examples(block)
    ]


def output_matches(expected: tuple[str, ...], actual: str) -> bool:
    """``actual`` equals ``expected`` line by line, with the ``...`` convention."""
    parts: list[str] = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(r"[^\n]*".join(re.escape(p) for p in line.rstrip().split("...")) + r"\n")
    actual_lines = [line.rstrip() for line in actual.splitlines()]
    text = "".join(line + "\n" for line in actual_lines)
    return re.fullmatch("".join(parts), text) is not None


def run_in_process(argv: tuple[str, ...]) -> tuple[int, str]:
    """Run ``y90dose ARGV``; return the exit code and stdout and stderr interleaved."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse refusals exit from inside parse_args
            code = exc.code if isinstance(exc.code, int) else 1
    return code, buffer.getvalue()


def _params() -> list[object]:
    params: list[object] = []
    for example in all_examples():
        reason = example.block.not_run_reason
        marks = [pytest.mark.skip(reason=f"docs: not run: {reason}")] if reason else []
        params.append(pytest.param(example, id=example.id, marks=marks))
    return params


@pytest.fixture(autouse=True)
def _private_kernel_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples must not depend on (or fill) the user's kernel cache, and run in a
    temporary folder holding a copy of docs/examples (``--file examples/treatment.json``)."""
    monkeypatch.setenv("Y90DOSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("Y90DOSE_DEBUG", raising=False)
    work = tmp_path / "work"
    shutil.copytree(EXAMPLES, work / "examples")
    monkeypatch.chdir(work)


@pytest.mark.parametrize("example", _params())
def test_documented_example_prints_what_the_docs_show(example: Example) -> None:
    code, output = run_in_process(example.argv)
    where = f"{example.block.path.relative_to(ROOT)} line {example.line}"
    assert code == example.exit_code, f"{where}: exit code {code}, documented {example.exit_code}"
    if not output_matches(example.expected, output):
        import difflib

        diff = "\n".join(
            difflib.unified_diff(
                list(example.expected),
                output.rstrip("\n").splitlines(),
                "docs",
                "y90dose",
                lineterm="",
            )
        )
        pytest.fail(f"{where}: the output differs from the docs:\n{diff}")


def _command_lines() -> list[object]:
    """Complete ``y90dose`` command lines of the blocks that are not run."""
    params: list[object] = []
    for block in all_blocks():
        if block.info == "console":
            continue
        index = 0
        while index < len(block.lines):
            text, last = _join_continuations(block.lines, index)
            line_no = block.line + 1 + index
            index = last + 1
            command = text.split("#", 1)[0].strip()  # a trailing shell comment
            words = command.split()
            if not words or not (words[0] == "y90dose" or words[0].endswith("/y90dose")):
                continue
            if any(mark in command for mark in ("[", "|", "...")):
                continue  # a synopsis, not a command
            argv = tuple(shlex.split(command)[1:])
            params.append(
                pytest.param(argv, id=f"{block.path.name}:{line_no}:{' '.join(argv[:2])}")
            )
    return params


@pytest.mark.parametrize("argv", _command_lines())
def test_documented_command_line_parses(argv: tuple[str, ...]) -> None:
    """Placeholder examples are not run, but their subcommand and options must exist."""
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(buffer):
        try:
            build_parser().parse_args(list(argv))
        except SystemExit as exc:
            pytest.fail(f"y90dose {' '.join(argv)}: refused (exit {exc.code}): {buffer.getvalue()}")


def test_every_usage_command_has_an_example() -> None:
    """Each ``## `y90dose X` `` section of usage.md shows at least one run of X."""
    by_heading: dict[str, list[Example]] = {}
    for block in read_blocks(USAGE):
        if block.info == "console":
            by_heading.setdefault(block.heading, []).extend(console_examples(block))
    missing = []
    for line in USAGE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("## "):
            continue
        for name in re.findall(r"`y90dose ([a-z][a-z -]*)`", line):
            commands = [" ".join(ex.argv) for ex in by_heading.get(line, [])]
            if not any(command.startswith(name + " ") for command in commands):
                missing.append(name)
    assert not missing, f"docs/usage.md sections without an example: {missing}"


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        (("a 1.0",), "a 1.0\n", True),
        (("a 1.0",), "a 1.1\n", False),
        (("a 1.0",), "a 1.0\nb\n", False),
        (("at ... h", "x"), "at 48.00 h\nx\n", True),
        (("{", "...", "}"), "{\n  a\n  b\n}\n", True),
        (("{", "...", "}"), "{\n}\n", True),
        (("{", "...", "}"), "{\n  a\n", False),
        (("a 1.0",), "a 1.0   \n", True),  # trailing spaces are not significant
    ],
)
def test_output_matching_convention(expected: tuple[str, ...], actual: str, matches: bool) -> None:
    assert output_matches(expected, actual) is matches


PYCON_BLOCKS = [block for block in all_blocks() if block.info == "pycon"]


@pytest.mark.parametrize(
    "block", PYCON_BLOCKS, ids=[f"{b.path.name}:{b.line}" for b in PYCON_BLOCKS]
)
def test_python_session_runs(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import doctest

    monkeypatch.chdir(tmp_path)
    name = f"{block.path.name}:{block.line}"
    test = doctest.DocTestParser().get_doctest(
        "\n".join(block.lines), {}, name, str(block.path), block.line
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0, name


def test_the_voxel_api_has_a_python_example() -> None:
    assert any(b.path.name == "voxel-pipeline.md" for b in PYCON_BLOCKS)
