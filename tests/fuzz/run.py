"""``nox -s fuzz``: every fuzz target with many examples, then a table of what happened.

``python tests/fuzz/run.py [--examples N] [--only NAME ...] [--samples]`` runs each
target's property with ``max_examples=N`` (default 10,000), counting per example what the
parser's call ended in: returned or a documented ("typed") error, an undocumented
("untyped") one, ``NotModelled`` from the fake Windows, or an example over the 2 s time or
256 MiB memory bound. Exit status 1 when any example was untyped or over a bound.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from hypothesis import settings  # noqa: E402

from tests.fuzz import (  # noqa: E402
    test_fuzz_inputs,
    test_fuzz_media,
    test_fuzz_metadata,
    test_fuzz_userdata,
)
from tests.fuzz.harness import MEMORY_LIMIT, Tally, Target, run_target  # noqa: E402


def all_targets(folder: Path) -> list[Target]:
    return [
        *test_fuzz_media.targets(),
        *test_fuzz_userdata.targets(),
        *test_fuzz_metadata.targets(),
        *test_fuzz_inputs.targets(folder),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--only", nargs="*", default=None, help="target names")
    parser.add_argument("--samples", action="store_true", help="print untyped reproducers")
    args = parser.parse_args(argv)
    # The parsers log what they reject; thousands of examples would drown the table.
    logging.disable(logging.CRITICAL)
    # A runaway allocation fails with MemoryError (counted over the memory bound) instead
    # of taking the machine: the address space is capped well above MEMORY_LIMIT.
    cap = 4 * MEMORY_LIMIT + 2 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
    settings.register_profile("fuzz", database=None, deadline=None, derandomize=False)
    settings.load_profile("fuzz")
    rows: list[tuple[str, Tally, float]] = []
    with tempfile.TemporaryDirectory(prefix="guestsim-fuzz-") as folder:
        for target in all_targets(Path(folder)):
            if args.only and target.name not in args.only:
                continue
            tally = Tally()
            start = time.perf_counter()
            run_target(target, args.examples, tally)
            rows.append((target.name, tally, time.perf_counter() - start))
            print(
                f"{target.name}: {tally.examples} examples, {tally.untyped} untyped",
                file=sys.stderr,
                flush=True,
            )
    header = (
        "parser",
        "examples",
        "typed errors",
        "untyped errors",
        "not_modelled",
        "over limit",
        "slowest (ms)",
        "wall (s)",
    )
    table = [header]
    for name, tally, wall in rows:
        table.append(
            (
                name,
                str(tally.examples),
                str(tally.typed),
                str(tally.untyped),
                str(tally.not_modelled),
                str(tally.over_time + tally.over_memory),
                f"{tally.slowest_ms:.1f}",
                f"{wall:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        print(
            " | ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            print("-+-".join("-" * width for width in widths))
    failed = False
    for name, tally, _ in rows:
        failed = failed or bool(tally.untyped or tally.over_time or tally.over_memory)
        if args.samples:
            for site, (value, message) in tally.untyped_samples.items():
                print(f"\n[{name}] {site}\n  {message}\n  reproducer: {value!r}"[:1200])
            for sample in tally.over_limit_samples[:3]:
                print(f"\n[{name}] over limit: {sample}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
