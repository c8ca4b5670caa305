"""README.md's "Your first hour", run as written: every shell command of the section, in
order, against a development instance that `python3 dev.py serve` sets up in a copy of
this checkout (on a free port instead of 8080).

The copy reuses this checkout's virtual environment (a symlink), so `dev.py serve` must
find it installed for this `pyproject.toml` and install nothing: `python3 dev.py test`
makes sure of that before running the suite.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Your first hour"
# Commands that depend on the worker having delivered something are retried this long.
RETRY_SECONDS = 20.0


def first_hour_blocks(readme: str) -> list[list[str]]:
    """The `sh` blocks of the section, each as its command lines (comments dropped)."""
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    section = readme[start : end if end != -1 else len(readme)]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [
        [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
        for block in blocks
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def copy_checkout(target: Path) -> None:
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "var", "__pycache__", "*.egg-info", ".*_cache", ".hypothesis", "*.db*"
    )
    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)


def venv_is_current() -> bool:
    venv = Path(sys.prefix)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamps = (venv / ".installed-dev", venv / ".installed-base")
    return any(p.exists() and p.read_text() == digest for p in stamps)


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Path]:
    if not venv_is_current():
        pytest.fail(
            f"{sys.prefix} is not installed for this pyproject.toml: run `python3 dev.py setup`"
        )
    site = tmp_path / "verbund"
    copy_checkout(site)
    (site / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    yield site


def wait_until_serving(port: int, server: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dev.py serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"dev.py serve did not answer within 60 s:\n{log.read_text()}")


def run_command(line: str, cwd: Path, env: dict[str, str]) -> str:
    started = time.monotonic()
    deadline = started + RETRY_SECONDS
    while True:
        result = subprocess.run(
            ["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
        )
        if result.returncode == 0:
            print(f"{time.monotonic() - started:5.1f} s  {line}")
            return result.stdout
        if time.monotonic() > deadline:
            pytest.fail(
                f"`{line}` exited with {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        time.sleep(0.5)


def test_readme_first_hour_runs_as_written(checkout: Path) -> None:
    blocks = first_hour_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert blocks[0] == ["python3 dev.py serve"]
    commands = [line for block in blocks[1:] for line in block]
    assert all(c.startswith(("./verbund ", "curl ", "echo ", "printf ")) for c in commands)
    assert not any(c.endswith("\\") for c in commands)  # one command per line

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERBUND_")}
    log = checkout / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "dev.py", "serve", "--port", str(port)],
            cwd=checkout,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        started = time.monotonic()
        wait_until_serving(port, server, log)
        print(f"{time.monotonic() - started:5.1f} s  python3 dev.py serve, until it answers")
        outputs = {
            line: run_command(line.replace("localhost:8080", f"localhost:{port}"), checkout, env)
            for line in commands
        }
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    served = log.read_text()
    assert server.returncode == 0, served
    # A first run says what it did and reports no error.
    assert "error:" not in served and "Traceback" not in served, served
    assert "./verbund COMMAND" in served

    def output(prefix: str) -> str:
        return "".join(o for line, o in outputs.items() if line.startswith(prefix))

    assert f"created Organization @kv-mitte@localhost:{port}" in output("./verbund actor create kv")
    assert re.search(r"kv-mitte\s+anna\s+owner", output("./verbund role list"))
    assert re.search(r"published Note \d+ \(public\)", output("./verbund post"))
    assert "<strong>summer party</strong>" in output("curl -fsS http://localhost:8080/@kv")
    assert "OrderedCollectionPage" in output("curl -fsS -H")
    lena = f"lena@localhost:{port}"  # handles keep the domain's port
    assert lena in output("./verbund requests list")
    assert f"approved {lena}" in output("./verbund requests approve")
    assert f"{lena}\n(1 followers)" in output("./verbund followers")
    shown = output("./verbund deliveries show 1")
    assert "Follow" in shown and "next: nothing, delivered" in shown
    # Both sides were logged by the running instance: the signed POST, and its delivery.
    assert "POST /users/kv-mitte/inbox 202" in served
    assert f"signer=http://localhost:{port}/users/lena#main-key" in served
    assert re.search(r"INFO verbund\.delivery: delivery 1 of .* 202, attempt 1: done", served)
