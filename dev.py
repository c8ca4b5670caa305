#!/usr/bin/env python3
"""Set everything up and run Verbund, or its test suite. Needs only Python 3.11+.

    python3 dev.py serve   # venv, install, config, database, demo actor; serves http://localhost:8080
    python3 dev.py test    # venv, install with test tools; runs the suite on SQLite and PostgreSQL

`serve --port N` serves http://localhost:N instead (only when it first writes
var/verbund.toml). While it runs, `./verbund COMMAND` (a script next to this one) runs
any `verbund` command against that instance: it is .venv/bin/verbund with
VERBUND_CONFIG=var/verbund.toml.

The test run uses PostgreSQL at $TEST_DATABASE_URL (default: the local server's
`test` database) when it answers; with VERBUND_TEST_POSTGRES=required (CI) an
unreachable PostgreSQL fails the run instead of being skipped.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import urllib.request
import venv
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
VAR = ROOT / "var"
CONFIG = VAR / "verbund.toml"
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
# axe-core (the browser tests' accessibility check) from the npm registry, checked against
# the registry's published integrity hash; never copied into the repository.
AXE_VERSION = "4.14.1"
AXE_INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
AXE_DIR = VENV / "share" / "axe-core"
CHROMIUM = Path("/usr/bin/chromium")


def sh(*args: str | Path, check: bool = True, env: dict[str, str] | None = None) -> int:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        sys.exit(result.returncode)
    return result.returncode


def ensure_venv(extra: str) -> None:
    """Create .venv and (re)install the project when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036  (this script runs before any install)
        sys.exit("Verbund needs Python 3.11 or newer")
    if not PY.exists():
        print("creating virtual environment in .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extra or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    # The dev install includes the base one.
    for done in {stamp, VENV / ".installed-dev"} if not extra else {stamp}:
        if done.exists() and done.read_text() == digest:
            return
    print("installing Verbund and its dependencies", flush=True)
    sh(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    sh(PY, "-m", "pip", "install", "--quiet", "-e", f".[{extra}]" if extra else ".")
    stamp.write_text(digest)


def ensure_axe() -> None:
    """.venv/share/axe-core/axe.min.js from the npm registry ($NPM_CONFIG_REGISTRY if set)."""
    if (AXE_DIR / "VERSION").exists() and (AXE_DIR / "VERSION").read_text() == AXE_VERSION:
        return
    registry = os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org").rstrip("/")
    url = f"{registry}/axe-core/-/axe-core-{AXE_VERSION}.tgz"
    print(f"fetching axe-core {AXE_VERSION} from {registry}", flush=True)
    with urllib.request.urlopen(url, timeout=60) as response:
        data = response.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != AXE_INTEGRITY:
        sys.exit(f"axe-core {AXE_VERSION}: integrity mismatch ({digest})")
    AXE_DIR.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for name in ("axe.min.js", "LICENSE"):
            member = tar.extractfile(f"package/{name}")
            assert member is not None
            (AXE_DIR / name).write_bytes(member.read())
    (AXE_DIR / "VERSION").write_text(AXE_VERSION)


def ensure_chromium() -> None:
    """Debian's chromium for the browser tests, installed when missing and we may (root)."""
    if CHROMIUM.exists() or not shutil.which("apt-get") or getattr(os, "geteuid", lambda: 1)() != 0:
        return
    print("installing Debian's chromium for the browser tests", flush=True)
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if sh("apt-get", "install", "-y", "-q", "chromium", check=False, env=env) != 0:
        sh("apt-get", "update", "-q", check=False, env=env)
        sh("apt-get", "install", "-y", "-q", "chromium", check=False, env=env)


def serve(args: list[str]) -> None:
    port = 8080
    if args[:1] == ["--port"] and len(args) == 2 and args[1].isdigit():
        port = int(args[1])
    elif args:
        sys.exit("usage: python3 dev.py serve [--port N]")
    ensure_venv("")
    verbund = BIN / "verbund"
    if not CONFIG.exists():
        # The database goes next to the config (var/verbund.db): relative SQLite paths
        # are read relative to the config file's folder.
        sh(
            verbund,
            "init",
            "--config",
            CONFIG,
            "--domain",
            f"localhost:{port}",
            "--scheme",
            "http",
            "--port",
            str(port),
            "--allow-private-addresses",
        )
    else:
        if port != 8080:
            print(f"{CONFIG} exists: serving the port it names, not {port}", flush=True)
        sh(verbund, "db", "upgrade", "--config", CONFIG)
    # Quietly: on the first run the demo actor does not exist yet, which is no error.
    shown = subprocess.run(
        [str(verbund), "actor", "show", "demo", "--config", str(CONFIG)],
        cwd=ROOT,
        capture_output=True,
    )
    if shown.returncode != 0:
        sh(
            verbund,
            "actor",
            "create",
            "demo",
            "--config",
            CONFIG,
            "--type",
            "organization",
            "--display-name",
            "Demo Organisation",
            "--summary",
            "The demo organisation of this Verbund instance. Follow it for its news.",
        )
        # A region and interests, so that the directory (/directory) shows what it filters by.
        sh(
            verbund,
            "profile",
            "set",
            "demo",
            "--config",
            CONFIG,
            "--region",
            "DE-BE",
            "--district",
            "Mitte",
            "--interests",
            "Nachbarschaft,Klima",
        )
    print(
        "In a second terminal, `./verbund COMMAND` runs verbund commands against this "
        "instance (e.g. `./verbund actor list`).",
        flush=True,
    )
    os.execv(verbund, [str(verbund), "serve", "--config", str(CONFIG)])


def postgres_reachable(url: str) -> bool:
    parts = urlsplit(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            return True
    except OSError:
        return False


def test(pytest_args: list[str]) -> None:
    ensure_venv("dev")
    ensure_axe()
    ensure_chromium()
    if not any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in pytest_args):
        # One test process per core: most time is spent in servers and subprocesses.
        pytest_args = ["-n", "auto", *pytest_args]
    failed = sh(PY, "-m", "pytest", *pytest_args, check=False, env={"TEST_DATABASE_URL": ""})
    pg_url = os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG
    required = os.environ.get("VERBUND_TEST_POSTGRES") == "required"
    if postgres_reachable(pg_url):
        print(f"\n=== the same suite on PostgreSQL ({urlsplit(pg_url).hostname}) ===", flush=True)
        failed |= sh(
            PY, "-m", "pytest", *pytest_args, check=False, env={"TEST_DATABASE_URL": pg_url}
        )
    elif required:
        print(f"PostgreSQL at {pg_url} is unreachable and VERBUND_TEST_POSTGRES=required")
        failed = 1
    else:
        print("\nPostgreSQL not reachable: the suite ran on SQLite only")
    sys.exit(1 if failed else 0)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "serve":
        serve(sys.argv[2:])
    elif command == "test":
        test(sys.argv[2:])
    elif command == "setup":
        ensure_venv("dev")
        ensure_axe()
    else:
        sys.exit("usage: python3 dev.py serve [--port N] | test [pytest arguments] | setup")


if __name__ == "__main__":
    main()
