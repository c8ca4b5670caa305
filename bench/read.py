"""Read-path benchmark: WebFinger and actor-document GETs against a bare aiohttp handler.

Prints one JSON line: webfinger_per_s, actor_per_s, baseline_per_s, ratio (the
smaller of the two against the baseline), p50_ms, p99_ms (worst of the two).
The server runs in its own process on SQLite; the load generator (50 keep-alive
connections) runs in this one. Compare the ratio, not absolute figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import get_request, run_like_serve, run_load  # noqa: E402

ACCEPT_AP = "application/activity+json, application/ld+json"
VERBUND = str(Path(sys.executable).parent / "verbund")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(port: int, path: str = "/", seconds: float = 90.0) -> None:
    """Until the server answers `path` (start-up takes far longer on a busy machine)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not start")


def serve_baseline(port: int, body_file: str) -> None:
    """A bare aiohttp handler returning the same bytes: the ceiling for our handlers."""
    from aiohttp import web

    body = Path(body_file).read_bytes()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "application/activity+json"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    run_like_serve(app, port)


def init_instance(config: Path, port: int, database_url: str, *, inbox_limits: bool = True) -> None:
    """`verbund init` an instance served at http://localhost:PORT, config at `config`.

    `inbox_limits=False` switches the inbox rate limits off (follows per host too): a
    few senders at thousands of requests per second would be refused.
    """
    subprocess.run(
        [
            VERBUND,
            "init",
            "--config",
            str(config),
            "--domain",
            f"localhost:{port}",
            "--scheme",
            "http",
            "--port",
            str(port),
            "--database-url",
            database_url,
            "--allow-private-addresses",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if not inbox_limits:
        with config.open("a", encoding="utf-8") as f:
            f.write("\n[limits]\ninbox_per_host = 0\ninbox_per_actor = 0\nfollows_per_host = 0\n")


def serve(config: Path) -> subprocess.Popen[bytes]:
    """`verbund serve` in its own process (inbox processor and delivery worker included)."""
    return subprocess.Popen(
        [VERBUND, "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port, base_port = free_port(), free_port()
        domain = f"localhost:{port}"
        config = Path(tmp) / "verbund.toml"

        def cli(*args: str) -> None:
            subprocess.run(
                [VERBUND, *args, "--config", str(config)], check=True, stdout=subprocess.DEVNULL
            )

        init_instance(config, port, f"sqlite+aiosqlite:///{tmp}/v.db")
        cli(
            "actor",
            "create",
            "bench",
            "--display-name",
            "Bench Organisation",
            "--summary",
            "An organisation that publishes benchmark news.",
        )
        server = serve(config)
        try:
            wait_for(port, "/nodeinfo/2.1")
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/users/bench", headers={"Accept": ACCEPT_AP}
            )
            with urllib.request.urlopen(req) as resp:
                actor_body = resp.read()
            wf = get_request(
                "/.well-known/webfinger?resource=acct:bench@localhost",
                domain,
                "application/jrd+json",
            )
            actor = get_request("/users/bench", domain, ACCEPT_AP)
            webfinger_result = asyncio.run(run_load(port, [wf]))
            actor_result = asyncio.run(run_load(port, [actor]))
        finally:
            server.terminate()
            server.wait()
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(actor_body)
        baseline = subprocess.Popen(
            [sys.executable, __file__, "--baseline", str(base_port), str(body_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(base_port)
            baseline_result = asyncio.run(run_load(base_port, [actor]))
        finally:
            baseline.terminate()
            baseline.wait()
    errors = webfinger_result.errors + actor_result.errors + baseline_result.errors
    base = baseline_result.per_s
    print(
        json.dumps(
            {
                "webfinger_per_s": round(webfinger_result.per_s),
                "actor_per_s": round(actor_result.per_s),
                "baseline_per_s": round(base),
                "ratio": round(min(webfinger_result.per_s, actor_result.per_s) / base, 3)
                if base
                else 0,
                "webfinger_ratio": round(webfinger_result.per_s / base, 3) if base else 0,
                "actor_ratio": round(actor_result.per_s / base, 3) if base else 0,
                "p50_ms": round(max(webfinger_result.p50, actor_result.p50), 2),
                "p99_ms": round(max(webfinger_result.pct(99), actor_result.pct(99)), 2),
                "connections": 50,
                "errors": errors,
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--baseline":
        serve_baseline(int(sys.argv[2]), sys.argv[3])
    else:
        main()
