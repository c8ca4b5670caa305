"""Inbox benchmark: signed activities accepted per second at the shared inbox.

Prints one JSON line: accepted_per_s, p50_ms, p99_ms at 50 connections, and, in
the same run (the two take turns, three times each), baseline_per_s of a bare
aiohttp handler that reads the body, checks the digest, verifies the same
signature with a cached key and answers 202; ratio = accepted/baseline.
"Accepted" means durably stored before the 202 (the group commit). It also
reports create_note_processed_per_s: how fast the background processor works
through the stored Create{Note} records.

The remote sender's key is seeded into the database first (keys cached). Every
request is distinct (own activity id), signed beforehand in a process pool.

BENCH_INBOX_PROCESSING=worker runs the deployment that keeps `serve` for accepting:
`server.process_inbox = false` and one `verbund worker` processing beside it, so the
figures (and cpu_us_per_request, of `serve` alone) are those of acceptance only. The
default, serve, processes inside `serve` as a single-process instance does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import LoadResult, run_like_serve, run_load, signed_post  # noqa: E402
from bench.read import VERBUND, free_port, init_instance, serve, wait_for  # noqa: E402

SENDER = "http://remote.example/users/sender"
KEY_ID = SENDER + "#main-key"
REQUESTS = int(os.environ.get("BENCH_INBOX_REQUESTS", "30000"))
ROUNDS = int(os.environ.get("BENCH_INBOX_ROUNDS", "3"))
TURN = float(os.environ.get("BENCH_INBOX_TURN", "1.5"))  # measured, after a 1 s warm-up
PROCESSING = os.environ.get("BENCH_INBOX_PROCESSING", "serve")
_PEM = ""
_TARGET = ""


def _init(pem: str, target: str) -> None:
    global _PEM, _TARGET
    _PEM, _TARGET = pem, target


def _signed(n: int) -> bytes:
    note_id = f"http://remote.example/users/sender/statuses/{n}"
    body = json.dumps(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": note_id + "/activity",
            "type": "Create",
            "actor": SENDER,
            "published": "2026-11-23T12:00:00Z",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [SENDER + "/followers"],
            "object": {
                "id": note_id,
                "type": "Note",
                "attributedTo": SENDER,
                "content": f"<p>Benchmark news number {n}: the branch meets on Thursday.</p>",
                "published": "2026-11-23T12:00:00Z",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
                "cc": [SENDER + "/followers"],
            },
        }
    ).encode()
    return signed_post("/inbox", _TARGET, body, KEY_ID, _PEM)


def serve_baseline(port: int, pem_file: str) -> None:
    """Read body, check digest, verify with a cached key, answer 202: the ceiling.

    `pem_file` holds the sender's public key (PEM), or a JSON object {keyId: PEM} for
    many senders. Serves the shared inbox and the personal ones (`/users/NAME/inbox`).
    """
    from aiohttp import web

    from federation.signatures import check_time_window, parse_signed_request, verify_signature

    text = Path(pem_file).read_text()
    keys: dict[str, str] = json.loads(text) if text.startswith("{") else {}

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        req = parse_signed_request(
            method="POST", target=request.raw_path, headers=request.headers, body=body
        )
        check_time_window(req, datetime.now(UTC))
        verify_signature(req, keys[req.key_id] if keys else text)
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/inbox", handler)
    app.router.add_post("/users/{username}/inbox", handler)

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/", ready)
    run_like_serve(app, port)


def start_baseline(port: int, pem_file: Path) -> subprocess.Popen[bytes]:
    """`serve_baseline` in a process of its own, as the server under test has."""
    return subprocess.Popen(
        [sys.executable, __file__, "--baseline", str(port), str(pem_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def seed_key(db_path: str, public_pem: str) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO remote_keys (key_uri, owner_uri, public_key_pem, fetched_at) "
            "VALUES (?, ?, ?, ?)",
            (KEY_ID, SENDER, public_pem, datetime.now(UTC).replace(tzinfo=None).isoformat(" ")),
        )


def count_rows(db_path: str, processed: bool = False) -> int:
    with sqlite3.connect(db_path) as conn:
        where = " WHERE processed_at IS NOT NULL" if processed else ""
        return int(conn.execute(f"SELECT count(*) FROM inbox_activities{where}").fetchone()[0])


def wait_processed(db_path: str) -> None:
    """Until the server has processed all it stored (at most a minute)."""
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and count_rows(db_path, processed=True) < count_rows(
        db_path
    ):
        time.sleep(0.05)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) that process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def alternate(
    port: int, base_port: int, requests: list[bytes], db_path: str, pids: tuple[int, int]
) -> tuple[LoadResult, LoadResult, float, tuple[float, float], list[float]]:
    """Load the server and the baseline in turns, ROUNDS times each, and merge the turns.

    Both processes run throughout; taking turns spreads the machine's noise (other
    tenants, CPU frequency) evenly over both figures instead of over one of them. The
    server's turns walk one request list, so every activity it receives is distinct.
    Before each baseline turn the server finishes processing what it stored, so that
    its background work never slows the baseline. Also returns the Create{Note}
    processing rate: records processed over the server's turns plus drain times, and
    the CPU microseconds per response of each process during its turns (a figure that
    other tenants' load on the machine hardly moves, unlike requests per second), and
    each round's ratio, to show how much the machine wavered.
    """
    ours = theirs = LoadResult(0, 0.0, [], 0)
    counter = itertools.count()
    busy = cpu_ours = cpu_theirs = 0.0
    round_ratios: list[float] = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        cpu = process_cpu(pids[0])
        r1 = await run_load(port, requests, expect=202, duration=TURN, counter=counter)
        cpu_ours += process_cpu(pids[0]) - cpu
        ours = ours.merge(r1)
        await asyncio.to_thread(wait_processed, db_path)
        busy += time.perf_counter() - start
        cpu = process_cpu(pids[1])
        r2 = await run_load(base_port, requests, expect=202, duration=TURN)
        cpu_theirs += process_cpu(pids[1]) - cpu
        theirs = theirs.merge(r2)
        round_ratios.append(round(r1.per_s / r2.per_s, 3) if r2.per_s else 0.0)
    cpu_per_request = (
        cpu_ours / max(ours.answered, 1) * 1e6,
        cpu_theirs / max(theirs.answered, 1) * 1e6,
    )
    return ours, theirs, busy, cpu_per_request, round_ratios


def main() -> None:
    from federation.keys import generate_rsa_private_key_pem, public_key_pem

    pem = generate_rsa_private_key_pem()
    with tempfile.TemporaryDirectory() as tmp:
        port, base_port = free_port(), free_port()
        domain = f"localhost:{port}"
        config = Path(tmp) / "verbund.toml"
        db_path = f"{tmp}/v.db"
        # One sender at thousands of requests per second: the inbox limits would refuse it.
        init_instance(config, port, f"sqlite+aiosqlite:///{db_path}", inbox_limits=False)
        seed_key(db_path, public_key_pem(pem))
        if PROCESSING == "worker":
            text = config.read_text(encoding="utf-8")
            config.write_text(
                text.replace("[server]\n", "[server]\nprocess_inbox = false\n", 1),
                encoding="utf-8",
            )
        pem_file = Path(tmp) / "pub.pem"
        pem_file.write_text(public_key_pem(pem))
        with multiprocessing.Pool(os.cpu_count() or 2, _init, (pem, domain)) as pool:
            requests = pool.map(_signed, range(REQUESTS), chunksize=256)
        server = serve(config)
        baseline = start_baseline(base_port, pem_file)
        helpers = [baseline]
        if PROCESSING == "worker":
            helpers.append(
                subprocess.Popen(
                    [VERBUND, "worker", "--config", str(config)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        try:
            wait_for(port, "/nodeinfo/2.1")
            wait_for(base_port)
            result, base, process_seconds, cpu_us, round_ratios = asyncio.run(
                alternate(port, base_port, requests, db_path, (server.pid, baseline.pid))
            )
            stored = count_rows(db_path)
            processed = count_rows(db_path, processed=True)
        finally:
            for proc in (server, *helpers):
                proc.terminate()
                proc.wait()
    print(
        json.dumps(
            {
                "accepted_per_s": round(result.per_s),
                "p50_ms": round(result.p50, 2),
                "p99_ms": round(result.pct(99), 2),
                "baseline_per_s": round(base.per_s),
                "ratio": round(result.per_s / base.per_s, 3) if base.per_s else 0,
                "baseline_p99_ms": round(base.pct(99), 2),
                "round_ratios": round_ratios,
                "cpu_us_per_request": round(cpu_us[0]),
                "baseline_cpu_us_per_request": round(cpu_us[1]),
                "stored": stored,
                "errors": result.errors + base.errors,
                "create_note_processed_per_s": round(processed / process_seconds)
                if process_seconds
                else 0,
                "connections": 50,
                "distinct_requests": REQUESTS,
                "rounds": ROUNDS,
                "processing": PROCESSING,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--baseline":
        serve_baseline(int(sys.argv[2]), sys.argv[3])
    else:
        main()
