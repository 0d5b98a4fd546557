"""Every example in README.md runs, as written, and answers what the README shows.

Conventions in README.md (this test is their definition):

* A fenced ``sh`` (or ``bash``) block is an example: it runs, in order with the others, in one
  bash session (so variables and files one block makes are there for the next). The switch runs
  the way the README says (``python -m switch serve --sandbox``), started by this test.
* ``<!-- not-run: reason -->`` on the line before a block means it is not run (a command that
  runs for minutes, a server, a configuration snippet); the reason is required.
* The fenced block right after an example (only blank lines between) is its answer when it is a
  ``json`` block (the example's output, one or more JSON documents) or a ``text`` block (the
  output, line for line). Other blocks (diagrams, headers, lone ``json`` fragments) are
  illustrations and are not compared.
* ``<!-- poll: N -->`` before an example: run it again (at most N seconds) until its answer
  matches, for outcomes that arrive later (a callback).

JSON answers are compared structurally: the same keys everywhere and the same values, except
the values of GENERATED keys (ids, times, tokens, secrets, provider references), which only have
to be both null or both not null. The only change made to an example before it runs is the port:
``127.0.0.1:8080`` becomes the free port this test's switch listens on.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .switch_process import sandbox_switch

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
RUNNABLE = {"sh", "bash"}
ANSWERS = {"json", "text"}
GENERATED = frozenset(
    {
        "id",
        "merchant_id",
        "client_id",
        "client_secret",
        "webhook_secret",
        "access_token",
        "created_at",
        "updated_at",
        "at",
        "merchant_request_id",
        "checkout_request_id",
        "conversation_id",
        "originator_conversation_id",
        "receipt",
        "validation_url",
        "confirmation_url",
        "callback_url",
    }
)
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!--\s*(not-run|poll):\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    mark: tuple[str, str] | None  # ("not-run", reason) or ("poll", seconds)
    follows_block: bool  # only blank lines since the previous block ended


@dataclass
class Example:
    block: Block
    answer: Block | None


def parse_blocks(markdown: str) -> list[Block]:
    blocks: list[Block] = []
    lines = markdown.split("\n")
    i, last_end = 0, -10
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        mark_match = _MARK.match(lines[k]) if k >= 0 else None
        mark = (mark_match.group(1), mark_match.group(2)) if mark_match else None
        follows = all(not line.strip() for line in lines[last_end + 1 : start]) and last_end >= 0
        blocks.append(
            Block(start + 1, fence.group(1), "\n".join(lines[start + 1 : j]), mark, follows)
        )
        last_end = j
        i = j + 1
    return blocks


def examples(blocks: list[Block]) -> list[Example]:
    found = []
    for n, block in enumerate(blocks):
        if block.lang not in RUNNABLE:
            continue
        after = blocks[n + 1] if n + 1 < len(blocks) else None
        answer = after if after and after.follows_block and after.lang in ANSWERS else None
        found.append(Example(block, answer))
    return found


def json_documents(text: str) -> list[Any]:
    """One or more JSON documents, one after another (as several curl calls print them)."""
    decoder_input = text.strip()
    docs: list[Any] = []

    decoder = json.JSONDecoder()
    pos = 0
    while pos < len(decoder_input):
        doc, end = decoder.raw_decode(decoder_input, pos)
        docs.append(doc)
        pos = end
        while pos < len(decoder_input) and decoder_input[pos].isspace():
            pos += 1
    return docs


def differences(shown: Any, got: Any, path: str = "$") -> list[str]:
    if isinstance(shown, dict) and isinstance(got, dict):
        problems = []
        if shown.keys() != got.keys():
            problems.append(f"{path}: keys shown {sorted(shown)} but the answer has {sorted(got)}")
        for key in shown.keys() & got.keys():
            where = f"{path}.{key}"
            if key in GENERATED:
                if (shown[key] is None) != (got[key] is None):
                    problems.append(f"{where}: shown {shown[key]!r}, got {got[key]!r}")
            else:
                problems += differences(shown[key], got[key], where)
        return problems
    if isinstance(shown, list) and isinstance(got, list):
        if len(shown) != len(got):
            return [f"{path}: {len(shown)} items shown, {len(got)} in the answer"]
        return [
            p
            for i, (a, b) in enumerate(zip(shown, got, strict=True))
            for p in differences(a, b, f"{path}[{i}]")
        ]
    return [] if shown == got else [f"{path}: shown {shown!r}, got {got!r}"]


def compare(answer: Block, output: str) -> list[str]:
    if answer.lang == "text":
        shown = [line.rstrip() for line in answer.text.strip().splitlines()]
        got = [line.rstrip() for line in output.strip().splitlines()]
        return [] if shown == got else [f"shown {shown}, got {got}"]
    try:
        got_docs = json_documents(output)
    except ValueError as exc:
        return [f"the output is not JSON ({exc}): {output[:500]!r}"]
    shown_docs = json_documents(answer.text)
    if len(shown_docs) != len(got_docs):
        return [
            f"{len(shown_docs)} JSON documents shown, {len(got_docs)} printed: {output[:500]!r}"
        ]
    return [p for a, b in zip(shown_docs, got_docs, strict=True) for p in differences(a, b)]


class Session:
    """One bash process; each block runs in it and ends with a marker line carrying its status."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.count = 0

    async def run(self, script: str, timeout: float = 60.0) -> tuple[int, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.count += 1
        marker = f"__README_BLOCK_{self.count}_DONE__"
        self.proc.stdin.write(f"{script}\necho; echo {marker} $?\n".encode())
        await self.proc.stdin.drain()
        out: list[str] = []
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not raw:
                raise AssertionError(f"bash ended during the block; output: {''.join(out)}")
            line = raw.decode()
            if line.startswith(marker):
                status = int(line.split()[-1])
                text = "".join(out)
                return status, text[:-1] if text.endswith("\n") else text
            out.append(line)


def _port_text(text: str, port: int) -> str:
    return text.replace("127.0.0.1:8080", f"127.0.0.1:{port}")


def test_readme_conventions_are_followed() -> None:
    """Every runnable block either runs or says why not; every mark is well formed."""
    blocks = parse_blocks(README.read_text())
    assert any(b.lang in RUNNABLE and b.mark is None for b in blocks)
    for block in blocks:
        if block.mark is None:
            continue
        kind, value = block.mark
        if kind == "not-run":
            assert value, f"README.md:{block.line}: not-run needs a reason"
        else:
            assert value.isdigit(), f"README.md:{block.line}: poll needs seconds"
            assert block.lang in RUNNABLE, f"README.md:{block.line}: poll on a non-example"


def test_the_parser_pairs_examples_with_answers() -> None:
    text = "\n".join(
        [
            "<!-- not-run: a server -->",
            "```sh",
            "serve",
            "```",
            "```sh",
            'echo \'{"id": 1, "a": [1]}\'',
            "```",
            "",
            "```json",
            '{"id": 2, "a": [1]}',
            "```",
            "prose",
            "```json",
            "{}",
            "```",
        ]
    )
    found = examples(parse_blocks(text))
    assert [e.block.mark for e in found] == [("not-run", "a server"), None]
    assert found[0].answer is None
    answer = found[1].answer
    assert answer is not None
    assert compare(answer, '{"id": 7, "a": [1]}') == []
    assert compare(answer, '{"id": 7, "a": [2]}') == ["$.a[0]: shown 1, got 2"]
    assert compare(answer, '{"id": 7}')[0].startswith("$: keys shown")
    assert compare(answer, '{"id": null, "a": [1]}') == ["$.id: shown 2, got None"]


@pytest.fixture
async def readme_switch(tmp_path: Path) -> Any:
    """``python -m switch serve --sandbox`` as the README starts it (REDIS_URL unset: the
    default stack), on free ports, with its data in a temporary folder."""
    async with sandbox_switch(tmp_path, "readme") as (port, env):
        yield port, env, tmp_path


async def test_every_readme_example_answers_as_shown(readme_switch: Any) -> None:
    port, env, tmp = readme_switch
    assert shutil.which("curl") and shutil.which("jq"), "the README's examples use curl and jq"
    work = tmp / "work"
    work.mkdir()
    bash = await asyncio.create_subprocess_exec(
        "bash",
        "--noprofile",
        "--norc",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=work,
    )
    session = Session(bash)
    ran = 0
    try:
        for example in examples(parse_blocks(README.read_text())):
            block = example.block
            if block.mark and block.mark[0] == "not-run":
                continue
            where = f"README.md:{block.line}"
            poll_s = float(block.mark[1]) if block.mark else 0.0
            deadline = time.monotonic() + poll_s
            while True:
                status, output = await session.run(_port_text(block.text, port))
                problems = [f"exit status {status}"] if status else []
                if example.answer is not None:
                    problems += compare(example.answer, _port_text(output, port))
                if not problems or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.5)
            assert not problems, f"{where}: {problems}\noutput:\n{output}"
            ran += 1
    finally:
        if bash.returncode is None:
            bash.kill()
            await bash.wait()
    assert ran >= 10, f"only {ran} examples ran"
