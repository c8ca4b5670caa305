"""Instructions per accepted inbox request, ours against the bare verify+202 handler.

bench/inbox.py times both; on a machine shared with other work its figures move with
the neighbours' load (ratios from 0.2 to 0.7 in one hour of 2026-12-04). Instruction
counts do not: this runs `verbund serve` (acceptance only: `process_inbox = false`,
`run_worker = false`) and bench/inbox.py's baseline handler under valgrind's callgrind,
sends each BENCH_INSTR_WARMUP (default 300) signed Create{Note} requests to warm up, then
counts the instructions of both processes, all threads, over the next BENCH_INSTR_REQUESTS
(default 1500) at 20 connections. Needs valgrind (`callgrind_control` too); takes a
few minutes. Prints one JSON line: ours_ir_per_request, base_ir_per_request, ratio (base
over ours: the accept-only ratio bench/inbox.py measures in time, here in instructions).
System calls are not counted (`--collect-systime=no`): their time is the kernel's.
BENCH_INSTR_KEEP=<dir> keeps the callgrind files there, for `callgrind_annotate`.
"""

from __future__ import annotations

import asyncio
import glob
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inbox import _init, _signed, seed_key  # noqa: E402
from bench.loadgen import run_load  # noqa: E402
from bench.read import VERBUND, free_port, init_instance, wait_for  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_INSTR_REQUESTS", "1500"))
WARMUP = int(os.environ.get("BENCH_INSTR_WARMUP", "300"))
CONNECTIONS = 20
CALLGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-systime=no"]


async def _send(port: int, requests: list[bytes]) -> int:
    result = await run_load(
        port,
        requests,
        expect=202,
        warmup=0,
        duration=3600,
        connections=CONNECTIONS,
        wrap=False,
    )
    if result.errors:
        raise RuntimeError(f"{result.errors} requests were not answered 202")
    return result.requests


def _instructions(out: str) -> int:
    """The `totals:` of every dump callgrind wrote (one per part)."""
    total = 0
    for name in glob.glob(out + "*"):
        for line in Path(name).read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return total


def measure(command: list[str], port: int, path: str, requests: list[bytes], out: str) -> float:
    """Instructions per request of `command` (a server on `port`, ready at `path`)."""
    with open(out + ".log", "w") as log:
        proc = subprocess.Popen(
            [*CALLGRIND, f"--callgrind-out-file={out}", *command],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        wait_for(port, path, seconds=900)  # start-up under valgrind takes a while
        asyncio.run(_send(port, requests[:WARMUP]))
        control = ["callgrind_control", "-i"]
        subprocess.run([*control, "on", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
        sent = asyncio.run(_send(port, requests[WARMUP:]))
        subprocess.run([*control, "off", str(proc.pid)], check=True, stdout=subprocess.DEVNULL)
    finally:
        proc.terminate()
        proc.wait()
    if keep := os.environ.get("BENCH_INSTR_KEEP"):
        os.makedirs(keep, exist_ok=True)
        for name in glob.glob(out + "*"):
            shutil.copy(name, keep)
    return _instructions(out) / sent


def main() -> None:
    from federation.keys import generate_rsa_private_key_pem, public_key_pem

    pem = generate_rsa_private_key_pem()
    with tempfile.TemporaryDirectory() as tmp:
        port, base_port = free_port(), free_port()
        config = Path(tmp) / "verbund.toml"
        db_path = f"{tmp}/v.db"
        init_instance(config, port, f"sqlite+aiosqlite:///{db_path}", inbox_limits=False)
        seed_key(db_path, public_key_pem(pem))
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text.replace("[server]\n", "[server]\nprocess_inbox = false\nrun_worker = false\n", 1),
            encoding="utf-8",
        )
        pem_file = Path(tmp) / "pub.pem"
        pem_file.write_text(public_key_pem(pem))
        lists = []
        for target in (port, base_port):  # the Host header is part of what is signed
            with multiprocessing.Pool(
                os.cpu_count() or 2, _init, (pem, f"localhost:{target}")
            ) as pool:
                lists.append(pool.map(_signed, range(WARMUP + REQUESTS), chunksize=256))
        ours = measure(
            [sys.executable, VERBUND, "serve", "--config", str(config)],
            port,
            "/nodeinfo/2.1",
            lists[0],
            f"{tmp}/ours.cg",
        )
        base = measure(
            [
                sys.executable,
                str(ROOT / "bench/inbox.py"),
                "--baseline",
                str(base_port),
                str(pem_file),
            ],
            base_port,
            "/",
            lists[1],
            f"{tmp}/base.cg",
        )
    print(
        json.dumps(
            {
                "ours_ir_per_request": round(ours),
                "base_ir_per_request": round(base),
                "ratio": round(base / ours, 3),
                "requests": REQUESTS,
                "connections": CONNECTIONS,
            }
        )
    )


if __name__ == "__main__":
    main()
