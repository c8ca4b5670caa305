"""Instructions per processed Create{Note}: the inbox processor alone, under callgrind.

bench/inbox_e2e.py times processing while acceptance runs beside it, on a machine whose
speed moves with its neighbours' load. This counts instructions instead: the world of
bench/inbox_e2e.py (20 local actors, 200 followed remote actors on a domain with a port)
is seeded into a SQLite database with BENCH_PROC_RECORDS (default 1600) of its Creates
stored as the inbox stores them; then the processor (`Services.inbox_processor`, as
`serve` and `worker` run it) works through them twice under valgrind's callgrind, once
with the first BENCH_PROC_BASE (default 400) records only and once with all of them.
The difference of the two totals over the difference of the record counts is what one
more record costs, start-up and imports cancelled out. Needs valgrind; a few minutes.
Prints one JSON line: ir_per_processed, records, base_records.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECORDS = int(os.environ.get("BENCH_PROC_RECORDS", "1600"))
BASE = int(os.environ.get("BENCH_PROC_BASE", "400"))


def setup(work: Path) -> None:
    """The seeded database `work/seed.db` and the config `work/verbund.toml` (which points
    at `work/run.db`, the copy each run processes)."""
    from actors.uris import LocalUris
    from bench import inbox_e2e
    from bench.read import free_port, init_instance
    from federation.keys import generate_rsa_private_key_pem

    host = f"localhost:{free_port()}"
    seed_db, config = work / "seed.db", work / "verbund.toml"
    init_instance(config, int(host.split(":")[1]), f"sqlite+aiosqlite:///{seed_db}")
    config.write_text(config.read_text().replace(str(seed_db), str(work / "run.db")))
    keys = [generate_rsa_private_key_pem() for _ in range(inbox_e2e.KEYS)]
    uris = LocalUris(f"http://{host}")
    world = asyncio.run(inbox_e2e.seed(f"sqlite+aiosqlite:///{seed_db}", uris, host, keys))
    jobs, _ = inbox_e2e.creates(world, RECORDS, random.Random(11))
    received = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    rows = []
    for path, _, body in jobs:
        doc = json.loads(body)
        recipient = None if path == "/inbox" else uris.actor(path.split("/")[2])
        rows.append((doc["id"], doc["actor"], doc["type"], recipient, body.decode(), received))
    with contextlib.closing(sqlite3.connect(seed_db)) as conn, conn:
        conn.executemany(
            "INSERT INTO inbox_activities (uri, actor_uri, type, recipient_uri, body,"
            " received_at, processed_at, error) VALUES (?, ?, ?, ?, ?, ?, NULL, '')",
            rows,
        )


def process(work: Path, records: int) -> None:
    """Process the first `records` stored Creates of a fresh copy of the seed."""
    from server.config import load_config
    from server.services import open_services

    for name in ("run.db", "run.db-wal", "run.db-shm"):
        (work / name).unlink(missing_ok=True)
    with (
        contextlib.closing(sqlite3.connect(work / "seed.db")) as seed,
        contextlib.closing(sqlite3.connect(work / "run.db")) as conn,
    ):
        seed.backup(conn)  # with what the seed's WAL holds
        with conn:
            first = conn.execute("SELECT min(id) FROM inbox_activities").fetchone()[0]
            conn.execute("DELETE FROM inbox_activities WHERE id >= ?", (first + records,))

    async def run() -> int:
        async with open_services(load_config(work / "verbund.toml")) as services:
            return await services.inbox_processor().run_once()

    done = asyncio.run(run())
    if done != records:
        raise SystemExit(f"processed {done} records, not {records}")


def instructions(work: Path, records: int) -> int:
    out = work / f"cg{records}.out"
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--collect-systime=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--process",
            str(work),
            str(records),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=(work / f"cg{records}.log").open("w"),
    )
    total = 0
    for name in glob.glob(f"{out}*"):
        for line in Path(name).read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return total


def main() -> None:
    if sys.argv[1:2] == ["--process"]:
        process(Path(sys.argv[2]), int(sys.argv[3]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        setup(work)
        try:
            base, full = instructions(work, BASE), instructions(work, RECORDS)
        except subprocess.CalledProcessError:
            for log in work.glob("cg*.log"):  # valgrind's and the processor's own output
                sys.stderr.write(log.read_text(encoding="utf-8", errors="replace")[-3000:])
            raise
    per = (full - base) / (RECORDS - BASE)
    print(json.dumps({"ir_per_processed": round(per), "records": RECORDS, "base_records": BASE}))


if __name__ == "__main__":
    main()
