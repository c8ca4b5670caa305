"""Inbox benchmark: signed activities accepted per second at the shared inbox.

Prints one JSON line: accepted_per_s, p50_ms, p99_ms at 50 connections, and, in
the same run, baseline_per_s of a bare aiohttp handler that reads the body,
checks the digest, verifies the same signature with a cached key and answers
202; ratio = accepted/baseline. "Accepted" means durably stored before the 202
(the group commit). It also reports create_note_processed_per_s: how fast the
background processor works through the stored Create{Note} records.

The remote sender's key is seeded into the database first (keys cached). Every
request is distinct (own activity id), signed beforehand in a process pool.
"""

from __future__ import annotations

import asyncio
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

from bench.loadgen import post_request, run_load  # noqa: E402
from bench.read import free_port, wait_for  # noqa: E402

SENDER = "http://remote.example/users/sender"
KEY_ID = SENDER + "#main-key"
REQUESTS = int(os.environ.get("BENCH_INBOX_REQUESTS", "24000"))
_PEM = ""
_TARGET = ""


def _init(pem: str, target: str) -> None:
    global _PEM, _TARGET
    _PEM, _TARGET = pem, target


def _signed(n: int) -> bytes:
    from federation.signatures import sign_request

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
    url = f"http://{_TARGET}/inbox"
    headers = sign_request(
        method="POST",
        url=url,
        headers={"Content-Type": "application/activity+json"},
        body=body,
        key_id=KEY_ID,
        private_key_pem=_PEM,
        now=datetime.now(UTC),
    )
    return post_request("/inbox", _TARGET, headers, body)


def serve_baseline(port: int, pem_file: str) -> None:
    """Read body, check digest, verify with a cached key, answer 202: the ceiling."""
    from aiohttp import web

    from federation.signatures import check_time_window, parse_signed_request, verify_signature

    public_pem = Path(pem_file).read_text()

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        req = parse_signed_request(
            method="POST", target=request.raw_path, headers=request.headers, body=body
        )
        check_time_window(req, datetime.now(UTC))
        verify_signature(req, public_pem)
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/inbox", handler)
    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/", ready)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


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


def main() -> None:
    from federation.keys import generate_rsa_private_key_pem, public_key_pem

    verbund = str(Path(sys.executable).parent / "verbund")
    pem = generate_rsa_private_key_pem()
    with tempfile.TemporaryDirectory() as tmp:
        port, base_port = free_port(), free_port()
        domain = f"localhost:{port}"
        config = Path(tmp) / "verbund.toml"
        db_path = f"{tmp}/v.db"
        subprocess.run(
            [
                verbund,
                "init",
                "--config",
                str(config),
                "--domain",
                domain,
                "--scheme",
                "http",
                "--port",
                str(port),
                "--database-url",
                f"sqlite+aiosqlite:///{db_path}",
                "--allow-private-addresses",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seed_key(db_path, public_key_pem(pem))
        with multiprocessing.Pool(os.cpu_count() or 2, _init, (pem, domain)) as pool:
            requests = pool.map(_signed, range(REQUESTS), chunksize=256)
        server = subprocess.Popen(
            [verbund, "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(port, "/nodeinfo/2.1")
            start = time.perf_counter()
            result = asyncio.run(run_load(port, requests, expect=202))
            stored = count_rows(db_path)
            # Processing of the stored Create{Note} records runs behind the 202s, in the
            # same process: the rate is everything stored over the time until all is done.
            deadline = time.perf_counter() + 60
            while time.perf_counter() < deadline and count_rows(db_path, processed=True) < stored:
                time.sleep(0.05)
            processed = count_rows(db_path, processed=True)
            process_seconds = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait()
        pem_file = Path(tmp) / "pub.pem"
        pem_file.write_text(public_key_pem(pem))
        baseline = subprocess.Popen(
            [sys.executable, __file__, "--baseline", str(base_port), str(pem_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(base_port)
            base = asyncio.run(run_load(base_port, requests, expect=202))
        finally:
            baseline.terminate()
            baseline.wait()
    print(
        json.dumps(
            {
                "accepted_per_s": round(result.per_s),
                "p50_ms": round(result.p50, 2),
                "p99_ms": round(result.pct(99), 2),
                "baseline_per_s": round(base.per_s),
                "ratio": round(result.per_s / base.per_s, 3) if base.per_s else 0,
                "baseline_p99_ms": round(base.pct(99), 2),
                "stored": stored,
                "errors": result.errors + base.errors,
                "create_note_processed_per_s": round(processed / process_seconds)
                if process_seconds
                else 0,
                "connections": 50,
                "distinct_requests": REQUESTS,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--baseline":
        serve_baseline(int(sys.argv[2]), sys.argv[3])
    else:
        main()
