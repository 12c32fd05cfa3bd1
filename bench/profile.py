"""Summarise a py-spy profile in collapsed stacks (`compare --profile DIR`): where the samples went.

    python -m bench.profile bench/.work/profile/gateway-on.txt [--top 25]

Prints the share of samples per thread, per gateway module (each stack counted once per module
it passes through) and per leaf function (where the time is spent itself).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# "func (path/to/file.py:123)"; py-spy shortens paths to the package.
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")
_THREAD = re.compile(r"^thread \(\d+\): ?(?P<name>.*)$")


@dataclass(frozen=True)
class Stack:
    thread: str
    frames: tuple[str, ...]
    samples: int


def parse(lines: Iterable[str]) -> list[Stack]:
    """Stacks from py-spy's raw format: `process ...;thread (...): name;frame;...;frame N`."""
    stacks = []
    for line in lines:
        body, _, count = line.rstrip("\n").rpartition(" ")
        if not body or not count.isdigit():
            continue
        parts = body.split(";")
        thread = "?"
        frames = []
        for part in parts:
            found = _THREAD.match(part)
            if found:
                # The onnx and ranking threads are named by their pools; the number goes.
                thread = re.sub(r"_\d+$", "", found.group("name").strip()) or "?"
            elif not part.startswith("process "):
                frames.append(part)
        stacks.append(Stack(thread, tuple(frames), int(count)))
    return stacks


def _file(frame: str) -> str:
    found = _FRAME.match(frame)
    return found.group("file") if found else frame


def _module(path: str) -> str:
    """A gateway module as `gateway/context/stage.py`, a library by its top package."""
    if path.startswith("gateway/"):
        return path
    return path.split("/", 1)[0].removesuffix(".py")


def by_thread(stacks: Sequence[Stack]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for stack in stacks:
        counts[stack.thread] += stack.samples
    return counts


def by_module(stacks: Sequence[Stack]) -> Counter[str]:
    """Samples whose stack passes through each gateway module (inclusive time)."""
    counts: Counter[str] = Counter()
    for stack in stacks:
        for module in {_module(_file(f)) for f in stack.frames if _file(f).startswith("gateway/")}:
            counts[module] += stack.samples
    return counts


def by_leaf(stacks: Sequence[Stack]) -> Counter[str]:
    """Samples per innermost frame (self time), by function and module."""
    counts: Counter[str] = Counter()
    for stack in stacks:
        if stack.frames:
            leaf = _FRAME.match(stack.frames[-1])
            name = f"{leaf.group('func')} ({leaf.group('file')})" if leaf else stack.frames[-1]
            counts[name] += stack.samples
    return counts


def report(stacks: Sequence[Stack], top: int) -> str:
    total = sum(stack.samples for stack in stacks) or 1
    lines = [f"{total:,} samples (every thread not idle)"]
    for title, counts in (
        ("thread", by_thread(stacks)),
        ("gateway module (inclusive)", by_module(stacks)),
        ("function (self)", by_leaf(stacks)),
    ):
        lines += ["", f"| {title} | share |", "| --- | ---: |"]
        lines += [f"| {name} | {n / total:.1%} |" for name, n in counts.most_common(top)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("profile", type=Path, help="collapsed stacks from py-spy --format raw")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    args = parser.parse_args(argv)
    with args.profile.open(encoding="utf-8") as lines:
        print(report(parse(lines), args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
