"""HTTP load generator, run as its own process so the server under test keeps a core to itself.

    python -m bench.loadgen URL REQUESTS CONCURRENCY HEADERS_JSON FIRST_NUMBER [SPREAD]

``HEADERS_JSON`` is a JSON object of request headers; in any value ``{n}`` becomes a running
number (from ``FIRST_NUMBER``), e.g. Google's increasing X-Goog-Message-Number, and ``{c}``
that number modulo ``SPREAD`` (default 1), e.g. which of SPREAD channels a request is for.
Prints one JSON object: elapsed seconds, per-request latencies (s) and the non-200 count.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


async def run(
    url: str, total: int, concurrency: int, template: dict[str, str], first: int, spread: int = 1
) -> dict[str, object]:
    latencies: list[float] = []
    errors = 0
    numbers = iter(range(first, first + total))

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        for n in numbers:
            c = str(n % spread)
            headers = {k: v.replace("{n}", str(n)).replace("{c}", c) for k, v in template.items()}
            begin = time.perf_counter()
            async with http.post(url, headers=headers) as response:
                await response.read()
                errors += response.status != 200
            latencies.append(time.perf_counter() - begin)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies, "errors": errors}


async def load(
    url: str, total: int, concurrency: int, headers: dict[str, str], first: int, spread: int = 1
) -> dict[str, object]:
    """Run the generator in a child process and return its result (used by the benches)."""
    args = [url, str(total), str(concurrency), json.dumps(headers), str(first), str(spread)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed with {proc.returncode}")
    result: dict[str, object] = json.loads(out)
    return result


if __name__ == "__main__":
    url, total, concurrency, headers, first = sys.argv[1:6]
    spread = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    result = asyncio.run(run(url, int(total), int(concurrency), json.loads(headers), int(first), spread))
    print(json.dumps(result))
