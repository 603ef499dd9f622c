"""Choosing scenarios: ``-k`` keyword expressions and ``--shard K/N`` splits for CI."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


class SelectionError(ValueError):
    """A ``-k`` expression or ``--shard`` value that cannot be understood."""


def matches_keywords(expression: str, words: str) -> bool:
    """pytest-style ``-k``: identifiers match as case-insensitive substrings of ``words``,
    combined with ``and``, ``or``, ``not`` and parentheses."""
    tokens = _TOKEN.findall(expression)
    if not tokens:
        raise SelectionError("empty -k expression")
    position = 0
    haystack = words.lower()

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        token = peek()
        if token is None:
            raise SelectionError(f"-k {expression!r}: unexpected end")
        position += 1
        return token

    def disjunction() -> bool:
        value = conjunction()
        while peek() == "or":
            take()
            value = conjunction() or value
        return value

    def conjunction() -> bool:
        value = negation()
        while peek() == "and":
            take()
            value = negation() and value
        return value

    def negation() -> bool:
        if peek() == "not":
            take()
            return not negation()
        return atom()

    def atom() -> bool:
        token = take()
        if token == "(":
            value = disjunction()
            if take() != ")":
                raise SelectionError(f"-k {expression!r}: missing ')'")
            return value
        if token in (")", "and", "or"):
            raise SelectionError(f"-k {expression!r}: unexpected {token!r}")
        return token.lower() in haystack

    result = disjunction()
    if peek() is not None:
        raise SelectionError(f"-k {expression!r}: unexpected {peek()!r}")
    return result


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match:
        raise SelectionError(f"--shard {text!r}: expected K/N, e.g. 2/4")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise SelectionError(f"--shard {text!r}: K must be between 1 and N")
    return index, count


def shard(paths: Sequence[Path], index: int, count: int) -> list[Path]:
    """The K-th of N interleaved slices of the paths in sorted order (K counts from 1)."""
    ordered = sorted(paths, key=lambda path: path.as_posix())
    return [path for number, path in enumerate(ordered) if number % count == index - 1]


def library_scenario(name: str, library: Path) -> tuple[Path, Path]:
    """The file (and the folder its name is relative to) of the scenario ``guestsim list``
    shows as ``name`` in ``library``, e.g. ``clouds/openstack-happy-path``; ``.yaml`` and a
    leading ``scenarios/`` (the checkout's paths, which the README shows) may be given."""
    from guestsim.simulator.scenario import SCENARIO_SUFFIXES, discover_roots, scenario_name

    entries = {scenario_name(*entry): entry for entry in discover_roots([library])}
    wanted = name.strip().replace("\\", "/").strip("/")
    for suffix in SCENARIO_SUFFIXES:
        wanted = wanted.removesuffix(suffix)
    for candidate in (wanted, wanted.removeprefix("scenarios/")):
        if candidate in entries:
            return entries[candidate]
    stem = wanted.rpartition("/")[2]
    close = [known for known in entries if known.rpartition("/")[2] == stem]
    close = close or difflib.get_close_matches(wanted, entries, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close[:3])}?" if close else " (guestsim list shows them)"
    raise SelectionError(f"no scenario file or library scenario named {name!r}{hint}")
