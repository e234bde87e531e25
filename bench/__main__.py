"""``python -m bench`` runs every ``bench/bench_*.py``; ``python -m bench NAME`` runs one (``webhooks``)."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast


def _names() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    wanted = [a if a.startswith("bench_") else f"bench_{a}" for a in argv] or _names()
    unknown = sorted(set(wanted) - set(_names()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(_names())}", file=sys.stderr)
        return 2
    for name in wanted:
        module = importlib.import_module(f"bench.{name}")
        run = cast(Callable[[], Awaitable[None]], module.main)
        print(f"== {name}")
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
