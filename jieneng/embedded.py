"""Embedded services for a machine with nothing installed: PostgreSQL (pgserver) and an MQTT broker.

Used only when the corresponding URL setting is unset.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


def embedded_database_url(data_dir: Path, dbname: str = "jieneng", *, stop_on_exit: bool = False) -> str:
    """Start (or reuse) a private PostgreSQL under ``data_dir/pg`` and return a URL to ``dbname``.

    By default the server stays up after the command (a one-shot verb such as `db migrate` should
    not pay a start-up on every call); ``stop_on_exit`` stops it when this process exits or calls
    :func:`stop_embedded_database`, as `jieneng demo` does. The data stays either way, so a second
    run resumes from it.
    """
    # platformdirs (via pgserver) warns when XDG_RUNTIME_DIR is unset, as in containers; harmless here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    pgdata = (Path(data_dir) / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop" if stop_on_exit else None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{dbname}';")
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{dbname}";')
    return server.get_uri(database=dbname)


def stop_embedded_database(data_dir: Path) -> None:
    import pgserver

    server = pgserver.get_server((Path(data_dir) / "pg").resolve())
    server.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class EmbeddedBroker:
    url: str
    kind: str  # "mosquitto" or "amqtt"
    data_dir: Path | None = None  # Mosquitto: where it writes its persistence file
    _proc: subprocess.Popen | None = None
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _broker: object | None = None

    @property
    def persistence_file(self) -> Path | None:
        return self.data_dir / "mosquitto.db" if self.data_dir is not None else None

    def kill(self) -> None:
        """SIGKILL (Mosquitto): no shutdown snapshot, as in a power cut or an OOM kill."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(10)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        if self._loop is not None and self._broker is not None:
            fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                fut.result(10)
            except Exception:  # noqa: BLE001 - best effort on shutdown
                log.debug("amqtt shutdown raised", exc_info=True)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"embedded broker did not open port {port} in {timeout:.0f}s")


def _reachable(path: Path, uid: int, gid: int) -> bool:
    """Whether user ``uid`` (group ``gid``) may enter every directory above ``path``."""
    for d in path.parents:
        st = d.stat()
        bits = stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid else stat.S_IXOTH
        if not st.st_mode & bits:
            return False
    return True


def _mosquitto_user(d: Path) -> str | None:
    """The user Mosquitto should run as so that it can write its persistence file into ``d``.

    Started as root, Mosquitto drops to the user ``mosquitto`` and then cannot write into a folder
    owned by root: it would persist nothing, silently. So the folder goes to that user when they
    can reach it, else Mosquitto runs as the folder's owner (root included, for a folder such as
    pytest's that no one else may enter).
    """
    if os.geteuid() != 0:
        return None  # Mosquitto runs as us and writes where we can
    owner = d.stat().st_uid
    if owner != 0:
        return pwd.getpwuid(owner).pw_name
    try:
        pw = pwd.getpwnam("mosquitto")
    except KeyError:
        return "root"
    if not _reachable(d, pw.pw_uid, pw.pw_gid):
        return "root"
    for p in [d, *d.iterdir()]:
        os.chown(p, pw.pw_uid, pw.pw_gid)
    return "mosquitto"


def start_embedded_broker(
    data_dir: Path,
    port: int | None = None,
    prefer_mosquitto: bool = True,
    autosave_interval_s: int = 60,
    autosave_on_changes: bool = False,
) -> EmbeddedBroker:
    """A private broker on 127.0.0.1: Mosquitto (persistence on) if its binary is on PATH, else amqtt.

    amqtt delivers QoS 1 but was not seen to keep queued messages for an offline persistent
    session, so the no-loss guarantee holds for Mosquitto (README says so). Mosquitto writes its
    persistence file on shutdown and every ``autosave_interval_s`` seconds (or, with
    ``autosave_on_changes``, every that many changes): a SIGKILL loses what changed since.
    """
    port = port or free_port()
    binary = shutil.which("mosquitto") if prefer_mosquitto else None
    if binary:
        d = (Path(data_dir) / "mosquitto").resolve()
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "mosquitto.conf"
        user = _mosquitto_user(d)
        conf.write_text(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {d}/\n"
            f"autosave_interval {autosave_interval_s}\n"
            f"autosave_on_changes {'true' if autosave_on_changes else 'false'}\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 1000\n" + (f"user {user}\n" if user else "")
        )
        if user == "mosquitto":
            shutil.chown(conf, "mosquitto", "mosquitto")
        proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_port(port)
        return EmbeddedBroker(url=f"mqtt://127.0.0.1:{port}", kind="mosquitto", data_dir=d, _proc=proc)

    from amqtt.broker import Broker

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        # Anonymous only, no $SYS publishing, no packet logging (it would dominate a backfill's CPU).
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    loop = asyncio.new_event_loop()
    holder: dict = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def boot():
            broker = Broker(config)
            await broker.start()
            holder["broker"] = broker
            started.set()

        loop.run_until_complete(boot())
        loop.run_forever()

    t = threading.Thread(target=run, name="amqtt-broker", daemon=True)
    t.start()
    if not started.wait(15):
        raise RuntimeError("embedded amqtt broker did not start")
    _wait_port(port)
    return EmbeddedBroker(
        url=f"mqtt://127.0.0.1:{port}", kind="amqtt", _thread=t, _loop=loop, _broker=holder["broker"]
    )
