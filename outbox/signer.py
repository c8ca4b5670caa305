"""RSA signing in a child process, so delivery uses a second core.

`cryptography` holds the GIL while it signs (about 0.65 ms per RSA-2048
signature here), so a worker that signs in-process spends half its time on
it. `SignerProcess` hands the exact message to a child over a pipe and awaits
the signature; headers are still built and checked in `federation.signatures`.
Keys go to the child once each (by index), never as part of a log line.
If the child is missing or dies, signing falls back to this process: a
delivery never fails because of the helper.

Wire format, both directions: a 9-byte header `!BII` (kind, id, length) then
`length` bytes. Kinds: K (register key `id`, payload PEM), S (sign request
`id`, payload = 4-byte key index + message); answers are S with the signature,
or E with an error text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import struct
import sys

from federation.signatures import rsa_sign

log = logging.getLogger("verbund.signer")
_HEADER = struct.Struct("!BII")
_INDEX = struct.Struct("!I")
KEY, SIGN, ERROR = b"K"[0], b"S"[0], b"E"[0]


# The child loads this file on its own, not as `outbox.signer`: importing the package
# would pull in the whole outbox (SQLAlchemy, aiohttp), 1.6 s of start-up here instead
# of 0.2 s, during which deliveries wait for their first signatures.
_CHILD = (
    "import importlib.util, sys; "
    "spec = importlib.util.spec_from_file_location('verbund_signer', sys.argv[1]); "
    "module = importlib.util.module_from_spec(spec); "
    "spec.loader.exec_module(module); "
    "module.serve()"
)


class SignerProcess:
    """An async front to one signing child process; use `sign` as `Signer.sign_with`."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._keys: dict[str, int] = {}
        self._next = 0

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CHILD,
            __file__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read_answers(), name="signer-answers")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and self._reader is not None

    async def sign(self, private_key_pem: str, message: bytes) -> bytes:
        """The signature of `message`; computed by the child, or here if it is gone."""
        proc = self._proc
        if proc is None or proc.stdin is None or not self.running:
            return rsa_sign(private_key_pem, message)
        try:
            index = self._keys.get(private_key_pem)
            if index is None:
                index = len(self._keys)
                self._keys[private_key_pem] = index
                pem = private_key_pem.encode()
                proc.stdin.write(_HEADER.pack(KEY, index, len(pem)) + pem)
            self._next += 1
            request = self._next
            future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            self._pending[request] = future
            payload = _INDEX.pack(index) + message
            proc.stdin.write(_HEADER.pack(SIGN, request, len(payload)) + payload)
            await proc.stdin.drain()
            return await future
        except (OSError, RuntimeError, ConnectionError) as exc:
            log.warning("signer process unavailable (%s); signing in-process", exc)
            await self.close()
            return rsa_sign(private_key_pem, message)

    async def _read_answers(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        try:
            while True:
                kind, request, length = _HEADER.unpack(await stdout.readexactly(_HEADER.size))
                payload = await stdout.readexactly(length)
                future = self._pending.pop(request, None)
                if future is None or future.done():
                    continue
                if kind == SIGN:
                    future.set_result(payload)
                else:
                    future.set_exception(RuntimeError(payload.decode(errors="replace")))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            # The child is gone: fail waiting requests so their callers fall back.
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(RuntimeError("signer process exited"))
            self._pending.clear()
            self._reader = None

    async def close(self) -> None:
        proc, reader = self._proc, self._reader
        self._proc = None
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def serve() -> None:
    """The child's loop: read requests on stdin, answer on stdout, until stdin closes."""
    # Ctrl-C reaches the whole process group; the parent decides when we stop
    # (it closes our stdin), so a terminal interrupt must not kill us mid-answer.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    keys: dict[int, str] = {}
    while True:
        header = stdin.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        kind, ident, length = _HEADER.unpack(header)
        payload = stdin.read(length)
        if kind == KEY:
            keys[ident] = payload.decode()
            continue
        (index,) = _INDEX.unpack_from(payload)
        try:
            answer, out_kind = rsa_sign(keys[index], payload[_INDEX.size :]), SIGN
        except Exception as exc:  # loop top: answer the error, keep serving
            answer, out_kind = f"{type(exc).__name__}: {exc}".encode(), ERROR
        stdout.write(_HEADER.pack(out_kind, ident, len(answer)) + answer)
        stdout.flush()
