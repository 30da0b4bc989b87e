"""Point 9: database problems are input problems, refused (exit 2, the URL named without its
password) before any analysis runs; the site secret is created atomically and checked.

Real SQLite files (random bytes, truncated, read-only), the real PostgreSQL server (read-only
transactions, a closed port), drivers that are not installed, in-memory URLs; real ``qa``
subprocesses, 20 of them racing for a new site secret in a fresh configuration folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from qa.store import Store

PASSWORD = "hunter2-secret"


def _qa(*args, env: dict | None = None, timeout: float = 120, preexec_fn=None) -> tuple[int, str, str]:
    """``python -m qa ARGS`` in a child process: (exit code, stdout, stderr)."""
    out = subprocess.run([sys.executable, "-m", "qa", *map(str, args)], capture_output=True, text=True,
                         env=env or dict(os.environ), timeout=timeout, preexec_fn=preexec_fn)
    return out.returncode, out.stdout, out.stderr


def _store_file(tmp_path: Path) -> Path:
    path = tmp_path / "qa.sqlite"
    Store(f"sqlite:///{path}").close()
    return path


def _random_bytes(tmp_path):
    path = tmp_path / "random.sqlite"
    path.write_bytes(os.urandom(16384))
    return f"sqlite:///{path}", "not a SQLite database"


def _too_short(tmp_path):
    path = tmp_path / "short.sqlite"
    path.write_bytes(b"SQLite format")
    return f"sqlite:///{path}", "not a SQLite database"


def _truncated(tmp_path):
    path = _store_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return f"sqlite:///{path}", "truncated"


def _read_only_uri(tmp_path):
    path = _store_file(tmp_path)
    return f"sqlite:///file:{path}?mode=ro&uri=true", "cannot be written"


def _in_memory(tmp_path):
    return "sqlite://", "in-memory"


def _in_memory_named(tmp_path):
    return "sqlite:///:memory:", "in-memory"


def _in_memory_uri(tmp_path):
    return "sqlite:///file::memory:?cache=shared&uri=true", "in-memory"


def _folder_is_a_file(tmp_path):
    (tmp_path / "not-a-folder").write_text("x")
    return f"sqlite:///{tmp_path / 'not-a-folder' / 'qa.sqlite'}", "cannot be created"


def _missing_driver(module: str, url: str):
    def make(tmp_path):
        if importlib.util.find_spec(module) is not None:
            pytest.skip(f"{module} is installed here: its URL is usable")
        return url, "not installed"

    return make


def _unreachable(tmp_path):
    return f"postgresql+psycopg://qa:{PASSWORD}@127.0.0.1:9/qa", "cannot open the database"


CASES = {
    "random-bytes": _random_bytes,
    "too-short-for-a-header": _too_short,
    "truncated": _truncated,
    "read-only-file": _read_only_uri,
    "in-memory": _in_memory,
    "in-memory-named": _in_memory_named,
    "in-memory-uri": _in_memory_uri,
    "folder-is-a-file": _folder_is_a_file,
    "mysql-driver-missing": _missing_driver("pymysql", f"mysql+pymysql://qa:{PASSWORD}@localhost/qa"),
    "asyncpg-driver-missing": _missing_driver("asyncpg", f"postgresql+asyncpg://qa:{PASSWORD}@localhost/qa"),
    "server-unreachable": _unreachable,
}


def _shown(url: str) -> str:
    """How the message names the URL: the password hidden."""
    return url.replace(PASSWORD, "***")


def _refused(code: int, out: str, err: str, url: str, why: str) -> dict:
    assert code == 2, err
    doc = json.loads(out)
    assert doc["schema"] == "qa.error/1" and doc["exit_code"] == 2
    message = doc["error"]["message"]
    assert _shown(url) in message and why in message, message
    assert doc["error"]["hint"]
    assert PASSWORD not in out + err
    return doc


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_database_that_cannot_keep_results_is_refused_before_the_series_is_read(case, tmp_path, qa_main):
    url, why = CASES[case](tmp_path)
    missing_series = tmp_path / "no-such-series"  # read only after the store: never named in the refusal
    code, out, err = qa_main("phantom", missing_series, "--db", url, "--json")
    doc = _refused(code, out, err, url, why)
    assert "no-such-series" not in json.dumps(doc)


@pytest.mark.parametrize("case", ["random-bytes", "truncated", "in-memory", "mysql-driver-missing"])
def test_every_command_reading_the_store_refuses_it(case, tmp_path, qa_main):
    url, why = CASES[case](tmp_path)
    for args in (["trend", "--scanner", "CT-1"], ["baseline", "show", "--scanner", "CT-1"],
                 ["baseline", "set", "--scanner", "CT-1", "--from-last", "5"]):
        code, out, err = qa_main(*args, "--db", url, "--json")
        _refused(code, out, err, url, why)


def test_a_damaged_store_is_refused_also_without_storing(small_phantom, tmp_path, qa_main):
    url, why = _truncated(tmp_path)
    code, out, err = qa_main("phantom", small_phantom.out_dir, "--no-store", "--db", url, "--json")
    _refused(code, out, err, url, why)


def test_an_in_memory_store_from_the_environment_is_refused(small_phantom, tmp_path):
    env = dict(os.environ, QA_DB_URL="sqlite://")
    code, out, err = _qa("phantom", small_phantom.out_dir, "--json", env=env)
    _refused(code, out, err, "sqlite://", "in-memory")


def test_a_read_only_postgresql_store_is_refused_before_analysis_and_nothing_is_stored(postgres_database, small_phantom):
    url = postgres_database()
    Store(url).close()
    read_only = url + ("&" if "?" in url else "?") + "options=-c%20default_transaction_read_only%3Don"
    code, out, err = _qa("phantom", small_phantom.out_dir, "--db", read_only, "--json")
    assert code == 2, err
    message = json.loads(out)["error"]["message"]
    assert "cannot be written" in message and "read-only" in message and "nothing was stored" in message
    password = sa.engine.make_url(url).password
    assert not password or f":{password}@" not in out + err  # shown as :***@
    store = Store(url)
    try:
        assert store.scanners() == []
    finally:
        store.close()


def test_a_read_only_store_file_is_refused_before_analysis(tmp_path, without_permission_override):
    """(As root the child runs without the capabilities that override file modes, so 0444 binds.)"""
    path = _store_file(tmp_path)
    path.chmod(0o444)
    code, out, err = _qa("phantom", tmp_path / "no-such-series", "--db", f"sqlite:///{path}", "--json",
                         preexec_fn=without_permission_override)
    _refused(code, out, err, f"sqlite:///{path}", "cannot be written")


# ---------------------------------------------------------------------------------------------
# The site secret.

def _secret_env(tmp_path: Path) -> dict:
    """A fresh configuration folder (XDG_CONFIG_HOME: where platformdirs puts qa's), no QA_SECRET_FILE."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.pop("QA_SECRET_FILE", None)
    return env


RACER = """
import os, sys, time
start = sys.argv[1]
while not os.path.exists(start):
    time.sleep(0.001)
from qa.privacy import site_secret
print(site_secret().hex())
"""


def test_twenty_processes_starting_together_end_up_with_one_secret(small_phantom, tmp_path):
    env = _secret_env(tmp_path)
    start = tmp_path / "start"
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(start)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(20)]
    start.touch()  # all of them are waiting: go
    secrets_seen = set()
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        secrets_seen.add(out.strip())
    folder = tmp_path / "config" / "qa"
    secret = folder / "site-secret"
    assert secrets_seen == {secret.read_bytes().hex()}  # every process uses the one secret on disk
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and secret.stat().st_size == 32
    assert sorted(p.name for p in folder.iterdir()) == ["site-secret"]  # no candidate left behind
    # and the command pseudonymises with it: the study's key is the HMAC of its UID under that secret
    import pydicom

    from qa.records.identity import Pseudonymiser

    code, out, err = _qa("check", small_phantom.out_dir, "--json", env=env)
    assert code in (0, 1), err
    study_uid = pydicom.dcmread(small_phantom.files[0], stop_before_pixels=True).StudyInstanceUID
    assert json.loads(out)["exam"]["study_key"] == Pseudonymiser(secret.read_bytes())(study_uid)


@pytest.mark.parametrize("fault", ["symlink", "group-readable", "empty", "short", "long", "folder-anyone-may-write",
                                   "existing-in-folder-anyone-may-write"])
def test_a_suspect_secret_is_refused_with_what_to_do(fault, small_phantom, tmp_path, qa_main, monkeypatch):
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o700)
    secret = folder / "site-secret"
    content = {"empty": b"", "short": os.urandom(31), "long": os.urandom(33)}.get(fault, os.urandom(32))
    if fault == "symlink":
        target = tmp_path / "elsewhere"
        target.write_bytes(content)
        target.chmod(0o600)
        secret.symlink_to(target)
    else:
        secret.write_bytes(content)
        secret.chmod(0o640 if fault == "group-readable" else 0o600)
    if fault == "folder-anyone-may-write":
        folder.chmod(0o777)
        secret.unlink()  # and qa would create the secret there
    if fault == "existing-in-folder-anyone-may-write":
        folder.chmod(0o777)  # anyone could have replaced the secret qa is about to read
    before = secret.read_bytes() if secret.exists() else None
    monkeypatch.setenv("QA_SECRET_FILE", str(secret))
    code, out, err = qa_main("check", small_phantom.out_dir, "--json")
    assert code == 2, err
    doc = json.loads(out)
    assert doc["schema"] == "qa.error/1" and "site secret" in doc["error"]["message"] and doc["error"]["hint"]
    assert (secret.read_bytes() if secret.exists() else None) == before  # never replaced or "repaired"


def _damage_table(path: Path, table: str) -> None:
    """Overwrite the root page of ``table`` with garbage (the header and the schema stay whole, so
    the store opens and only a query reaching that table finds the damage)."""
    import sqlite3

    with sqlite3.connect(path) as c:
        page_size = c.execute("PRAGMA page_size").fetchone()[0]
        root = c.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    c.close()
    with path.open("r+b") as fp:
        fp.seek((root - 1) * page_size)
        fp.write(bytes(range(256)) * (page_size // 256))


@pytest.mark.parametrize("table", ["phantom_runs", "phantom_metrics"])
def test_a_store_damaged_past_its_first_pages_is_an_input_problem_not_a_bug(table, small_phantom, tmp_path, qa_main):
    path = tmp_path / "qa.sqlite"
    url = f"sqlite:///{path}"
    code, out, err = qa_main("phantom", small_phantom.out_dir, "--db", url, "--json")
    assert code in (0, 1), err
    scanner = json.loads(out)["scanner"]["station_name"]
    _damage_table(path, table)
    before = path.read_bytes()
    for args in (["trend", "--scanner", scanner], ["phantom", small_phantom.out_dir]):
        code, out, err = qa_main(*args, "--db", url, "--json")
        error = json.loads(out)
        assert code == 2, (args, err)
        assert error["schema"] == "qa.error/1" and error["exit_code"] == 2
        assert "damaged" in error["error"]["message"] and str(path) in error["error"]["message"]
        assert "backup" in error["error"]["hint"]
    assert path.read_bytes() == before  # nothing written into the damaged file


@pytest.mark.parametrize("change", ["DROP TABLE baselines", "ALTER TABLE phantom_metrics DROP COLUMN value"])
def test_a_store_whose_layout_was_changed_by_hand_is_an_input_problem(change, small_phantom, tmp_path, qa_main):
    """A table or column removed behind the recorded revision: exit 2 naming the database, nothing stored."""
    import sqlite3

    path = tmp_path / "qa.sqlite"
    url = f"sqlite:///{path}"
    code, out, err = qa_main("phantom", small_phantom.out_dir, "--db", url, "--json")
    assert code in (0, 1), err
    scanner = json.loads(out)["scanner"]["station_name"]
    with sqlite3.connect(path) as c:
        c.execute(change)
        runs = c.execute("SELECT count(*) FROM phantom_runs").fetchone()[0]
    c.close()
    for args in (["phantom", small_phantom.out_dir], ["trend", "--scanner", scanner]):
        code, out, err = qa_main(*args, "--db", url, "--json")
        error = json.loads(out)
        assert code == 2 and error["schema"] == "qa.error/1", (args, err)
        assert "layout" in error["error"]["message"] and str(path) in error["error"]["message"]
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT count(*) FROM phantom_runs").fetchone()[0] == runs  # nothing half-stored
    c.close()


def test_a_sqlite_url_naming_its_driver_is_checked_like_any_sqlite_url(small_phantom, tmp_path, qa_main):
    """sqlite+pysqlite:/// is SQLite too: a damaged file is refused, and --no-store creates nothing."""
    damaged = tmp_path / "random.sqlite"
    damaged.write_bytes(os.urandom(16384))
    code, out, err = qa_main("phantom", tmp_path / "no-such-series", "--db", f"sqlite+pysqlite:///{damaged}", "--json")
    assert code == 2 and "not a SQLite database" in json.loads(out)["error"]["message"]
    missing = tmp_path / "never.sqlite"
    code, out, err = qa_main("phantom", small_phantom.out_dir, "--no-store", "--db", f"sqlite+pysqlite:///{missing}", "--json")
    assert code in (0, 1), err
    assert not missing.exists()
