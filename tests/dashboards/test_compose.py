"""docker-compose.yml: validated by a real compose implementation, and the stack's promises checked.

The validator is Debian's ``docker-compose`` (``apt-get install docker-compose``, 1.29), which
loads the file, interpolates .env.example, and checks it against the compose schema
(``docker-compose config``). No Docker daemon is needed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKER_COMPOSE = shutil.which("docker-compose")
LONG_RUNNING = {"timescaledb", "mosquitto", "ingest", "api", "grafana", "prometheus"}
ONE_SHOT = {"migrate", "grafana-reader", "broker-acl"}


def _config(env_file: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            DOCKER_COMPOSE,
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env_file),
            "-f",
            str(COMPOSE),
            "config",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


@pytest.fixture
def resolved(tmp_path):
    if DOCKER_COMPOSE is None:
        pytest.skip("docker-compose not on PATH (CI: apt-get install docker-compose)")
    result = _config(ROOT / ".env.example", tmp_path)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid_and_complete(resolved):
    services = resolved["services"]
    assert set(services) == LONG_RUNNING | ONE_SHOT
    for name in LONG_RUNNING:
        assert "healthcheck" in services[name], name
        assert services[name]["restart"] == "unless-stopped", name
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no", name
    assert {"pgdata", "mosquitto-data", "grafana-data"} <= set(resolved["volumes"])


def test_images_are_pinned(resolved):
    for name, svc in resolved["services"].items():
        image = svc["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d[\w.-]*", image) and "latest" not in image, (name, image)


def test_start_order(resolved):
    s = resolved["services"]
    assert s["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    for name in ("ingest", "api", "broker-acl", "grafana-reader"):
        assert s[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert s["mosquitto"]["depends_on"]["broker-acl"]["condition"] == "service_completed_successfully"
    assert s["ingest"]["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    assert s["grafana"]["depends_on"]["grafana-reader"]["condition"] == "service_completed_successfully"


def test_secrets_come_from_env_and_are_required(tmp_path):
    if DOCKER_COMPOSE is None:
        pytest.skip("docker-compose not on PATH (CI: apt-get install docker-compose)")
    env = tmp_path / "partial.env"
    env.write_text("POSTGRES_DB=jieneng\n", encoding="utf-8")
    result = _config(env, tmp_path)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr or "POSTGRES_PASSWORD" in result.stderr
    raw = COMPOSE.read_text(encoding="utf-8")
    assert "change-me" not in raw


def test_grafana_mounts_the_provisioning_this_repo_generates(resolved):
    mounts = {}
    for v in resolved["services"]["grafana"]["volumes"]:
        if isinstance(v, str):  # docker-compose 1.x prints the short form "source:target[:mode]"
            source, target = v.split(":")[:2]
        else:
            source, target = v["source"], v["target"]
        if source.startswith("/"):
            mounts[target] = Path(source)
    assert mounts["/var/lib/grafana/dashboards/jieneng"] == ROOT / "dashboards" / "generated"
    provider = yaml.safe_load(
        (ROOT / "dashboards/provisioning/dashboards/jieneng.yaml").read_text(encoding="utf-8")
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/jieneng"
    for sub in ("datasources", "dashboards", "alerting"):
        assert mounts[f"/etc/grafana/provisioning/{sub}"] == ROOT / "dashboards" / "provisioning" / sub
        assert any(mounts[f"/etc/grafana/provisioning/{sub}"].iterdir())
    ds = yaml.safe_load(
        (ROOT / "dashboards/provisioning/datasources/jieneng.yaml").read_text(encoding="utf-8")
    )
    env = resolved["services"]["grafana"]["environment"]
    for var in re.findall(r"\$\{(\w+)\}", yaml.safe_dump(ds)):
        assert var in env, f"provisioning uses ${{{var}}} but compose does not give it to Grafana"


def test_mosquitto_persistence_and_auth():
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text(encoding="utf-8")
    directives = dict(line.split(None, 1) for line in conf.splitlines() if line and not line.startswith("#"))
    assert directives["persistence"] == "true"
    assert directives["allow_anonymous"] == "false"
    assert directives["password_file"] == "/mosquitto/auth/passwd"
    assert directives["acl_file"] == "/mosquitto/auth/acl"


def test_mosquitto_conf_is_accepted_by_mosquitto(tmp_path):
    """The real binary parses the config (paths rewritten to a temp dir, port to a free one)."""
    mosquitto = shutil.which("mosquitto")
    if mosquitto is None:
        pytest.skip("mosquitto binary not on PATH")
    from jieneng.cli_broker import write_broker_files

    write_broker_files(
        tmp_path / "auth",
        prefix="jieneng/v1",
        institution_ids=["a"],
        ingest_user="jieneng-ingest",
        ingest_password="x",
        use_binary=False,
    )
    (tmp_path / "data").mkdir()
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text(encoding="utf-8")
    conf = conf.replace("/mosquitto/auth", str(tmp_path / "auth")).replace(
        "/mosquitto/data/", f"{tmp_path}/data/"
    )
    conf = conf.replace("listener 1883", "listener 0 127.0.0.1") + "user root\n"
    (tmp_path / "m.conf").write_text(conf, encoding="utf-8")
    proc = subprocess.Popen(
        [mosquitto, "-c", str(tmp_path / "m.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(1.5)  # still running: the configuration was accepted
    finally:
        proc.terminate()
        out = proc.communicate(timeout=5)[0]
    assert "Error" not in out, out


def _scram_matches(stored: str, password: str) -> bool:
    """Check a PostgreSQL SCRAM-SHA-256 verifier (RFC 5802/7677) against a password."""
    import base64
    import hashlib
    import hmac

    method, rest = stored.split("$", 1)
    assert method == "SCRAM-SHA-256"
    iter_salt, keys = rest.split("$")
    iterations, salt = iter_salt.split(":")
    stored_key = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest() == stored_key


def test_grafana_reader_step_sets_a_login_password(seeded_db_url, pg_admin_url):
    """compose's grafana-reader command, run by sh with psql, gives jieneng_grafana a working login.

    The role is cluster-wide, so the test puts it back to NOLOGIN without a password afterwards.
    """
    import psycopg

    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql not on PATH")
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    script = compose["services"]["grafana-reader"]["entrypoint"][2].replace("$$", "$")
    info = psycopg.conninfo.conninfo_to_dict(seeded_db_url)
    password = "it's a 'quoted' secret"
    env = {
        "PATH": "/usr/bin:/bin",
        "PGHOST": info.get("host", "127.0.0.1"),
        "PGPORT": str(info.get("port", 5432)),
        "PGUSER": info.get("user", "postgres"),
        "PGDATABASE": info["dbname"],
        "READER_PASSWORD": password,
    }
    try:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            assert conn.execute(
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'jieneng_grafana'"
            ).fetchone() == (False,)
        subprocess.run(["sh", "-c", script], env=env, check=True, capture_output=True, timeout=30)
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            can_login, stored = conn.execute(
                "SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = 'jieneng_grafana'"
            ).fetchone()
        assert can_login
        assert _scram_matches(stored, password)  # the quotes survived sh, psql's :'pw' and SQL
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute("ALTER ROLE jieneng_grafana NOLOGIN PASSWORD NULL")
