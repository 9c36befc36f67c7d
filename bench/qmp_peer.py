"""The peer for bench/qmp.js: QEMU's own Python QMP library (`qemu.qmp`, PyPI).

Connects to the QMP socket given as argv[1], sends argv[3] (default 0) untimed
`query-status` commands, then argv[2] (default 10000) more in sequence with
`await qmp.execute(...)`, timing each with time.perf_counter_ns, and prints
{"n", "p50_us", "p99_us", "samples_us"} as JSON.
Run with the interpreter of the venv scripts/python-tools.sh keeps (bench/qmp.js
finds it through that script).
"""

import asyncio
import json
import math
import sys
import time

from qemu.qmp import QMPClient


def percentile(sorted_ns, p):
    # Nearest-rank, the same rule bench/qmp.js and examples/qmp_floor.rs use.
    rank = math.ceil(p / 100 * len(sorted_ns))
    return sorted_ns[min(max(rank, 1), len(sorted_ns)) - 1] / 1000


async def main(path, count, warmup):
    qmp = QMPClient("bench")
    await qmp.connect(path)
    samples = []
    try:
        for _ in range(warmup):
            await qmp.execute("query-status")
        for _ in range(count):
            t0 = time.perf_counter_ns()
            reply = await qmp.execute("query-status")
            samples.append(time.perf_counter_ns() - t0)
            if "status" not in reply:
                raise RuntimeError(f"query-status reply without a status: {reply!r}")
    finally:
        await qmp.disconnect()
    raw = [round(ns / 1000, 1) for ns in samples]
    samples.sort()
    print(json.dumps({"n": len(samples), "p50_us": round(percentile(samples, 50), 1),
                      "p99_us": round(percentile(samples, 99), 1), "samples_us": raw}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10000,
                     int(sys.argv[3]) if len(sys.argv) > 3 else 0))
