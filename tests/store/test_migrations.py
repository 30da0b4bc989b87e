"""The migrations: one path from an empty database to the layout the code uses, revision 0001 is
exactly what qa 0.1.0 made, the head is known without Alembic, and newer databases are refused."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest
import sqlalchemy as sa
from old_store import FIXTURES, load_postgresql_dump

from qa.errors import UsageError
from qa.store import HEAD_REVISION, Store, metadata


def test_the_head_revision_constant_is_the_scripts_head():
    from alembic.script import ScriptDirectory

    from qa.store.upgrade import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD_REVISION]
    chain = [(s.revision, s.down_revision) for s in reversed(list(script.walk_revisions()))]
    assert chain == [("0001", None), ("0002", "0001"), ("0003", "0002"), ("0004", "0003"), ("0005", "0004"), ("0006", "0005")]  # one line of revisions, no branches


def _schema_differences(url: str) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), metadata)
    finally:
        engine.dispose()


def test_an_empty_database_is_migrated_to_the_metadata(store_url):
    Store(store_url).close()
    assert _schema_differences(store_url) == []
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [(HEAD_REVISION,)]
            assert c.execute(sa.text("SELECT key, value FROM qa_meta")).all() == [("schema_version", "6")]
    finally:
        engine.dispose()


def test_an_upgraded_0_1_0_database_has_the_layout_of_a_new_one(old_database):
    Store(old_database.url).close()
    assert _schema_differences(old_database.url) == []


def _upgrade_to(url: str, revision: str) -> None:
    from alembic import command

    from qa.store.upgrade import alembic_config

    engine = sa.create_engine(url)
    try:
        with engine.begin() as c:
            command.upgrade(alembic_config(c), revision)
    finally:
        engine.dispose()


def test_revision_0001_is_the_sqlite_layout_of_qa_0_1_0(tmp_path):
    path = tmp_path / "at-0001.sqlite"
    _upgrade_to(f"sqlite:///{path}", "0001")

    def layout(p) -> dict:
        with sqlite3.connect(p) as c:
            return {name: sql and re.sub(r"\s+", " ", sql) for name, sql in
                    c.execute("SELECT name, sql FROM sqlite_master WHERE name NOT LIKE '%alembic%'")}

    assert layout(path) == layout(FIXTURES / "qa-0.1.0.sqlite")
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT key, value FROM qa_meta").fetchall() == [("schema_version", "2")]


def test_revision_0001_is_the_postgresql_layout_of_qa_0_1_0(postgres_database):
    url = postgres_database()
    _upgrade_to(url, "0001")
    dump = postgres_database()
    load_postgresql_dump(dump)

    def layout(u: str) -> dict:
        engine = sa.create_engine(u)
        try:
            inspector = sa.inspect(engine)
            out = {}
            for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
                out[table] = {
                    "columns": [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in inspector.get_columns(table)],
                    "primary_key": inspector.get_pk_constraint(table),
                    "unique": sorted(json.dumps(u, sort_keys=True) for u in inspector.get_unique_constraints(table)),
                    "foreign_keys": sorted(json.dumps(f, sort_keys=True) for f in inspector.get_foreign_keys(table)),
                    "indexes": sorted(json.dumps(i, sort_keys=True, default=str) for i in inspector.get_indexes(table)),
                }
            return out
        finally:
            engine.dispose()

    assert layout(url) == layout(dump)


def test_a_database_at_0001_is_upgraded_to_the_head(tmp_path):
    url = f"sqlite:///{tmp_path / 'at-0001.sqlite'}"
    _upgrade_to(url, "0001")
    Store(url).close()
    assert _schema_differences(url) == []


def test_a_newer_database_is_refused_with_what_to_do(store_url, qa_cli):
    Store(store_url).close()
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as c:
            c.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    finally:
        engine.dispose()
    code, out, err = qa_cli("trend", "--scanner", "CT-A", "--db", store_url)
    shown = sa.engine.make_url(store_url).render_as_string(hide_password=True)
    assert code == 2 and out == ""
    assert shown in err and "9999_future" in err and HEAD_REVISION in err
    assert "use the newer qa that upgraded it, or another database with --db" in err
    if store_url.startswith("postgresql"):
        assert "***" in shown and sa.engine.make_url(store_url).password not in err.replace(shown, "")
    code, out, _ = qa_cli("trend", "--scanner", "CT-A", "--db", store_url, "--json")
    error = json.loads(out)
    assert code == 2 and "9999_future" in error["error"]["message"] and "--db" in error["error"]["hint"]
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as c:  # refused, never altered
            assert c.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [("9999_future",)]
    finally:
        engine.dispose()


def test_another_layout_version_is_refused_not_altered(tmp_path):
    path = tmp_path / "layout-1.sqlite"
    shutil.copyfile(FIXTURES / "qa-0.1.0.sqlite", path)
    with sqlite3.connect(path) as c:
        c.execute("UPDATE qa_meta SET value = '1'")
    file_bytes = path.read_bytes()
    with pytest.raises(UsageError, match="has table layout 1, which this qa cannot upgrade"):
        Store(f"sqlite:///{path}")
    assert path.read_bytes() == file_bytes


def _imported_modules(url: str) -> str:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", f"from qa.store import Store; Store({url!r}).close()"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stderr  # -X importtime writes one line per imported module to stderr


def test_opening_an_up_to_date_store_does_not_import_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'current.sqlite'}"
    Store(url).close()
    imported = _imported_modules(url)
    assert re.search(r"\|\s+sqlalchemy$", imported, re.M)  # the measurement sees top-level imports
    assert not re.search(r"\|\s+alembic\b", imported, re.M)
    # ... while an upgrade does import it (the check above would notice)
    old = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURES / "qa-0.1.0.sqlite", old)
    assert re.search(r"\|\s+alembic\b", _imported_modules(f"sqlite:///{old}"), re.M)


def test_a_read_only_database_is_read_when_current_and_not_upgraded_otherwise(tmp_path, qa_cli):
    path = tmp_path / "read-only.sqlite"
    shutil.copyfile(FIXTURES / "qa-0.1.0.sqlite", path)
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    code, _, err = qa_cli("trend", "--scanner", "CT-A", "--db", read_only)
    assert code == 2 and "readonly database; nothing was changed" in err and read_only in err
    Store(f"sqlite:///{path}").close()
    code, out, err = qa_cli("trend", "--scanner", "CT-A", "--db", read_only, "--json")
    assert code == 0, err
    assert json.loads(out)["baseline_version"] == 2
