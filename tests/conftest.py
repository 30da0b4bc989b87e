"""Shared fixtures: real DICOM files written by qa.phantom.synth, and the public files in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``../shared/data`` next to the repository (or $QA_SHARED_DATA), if it is there."""
    env = os.environ.get("QA_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("the public test files (../shared/data, or $QA_SHARED_DATA) are not on this machine")
    return path


@pytest.fixture(scope="session")
def canon_phantom_dir(shared_data: Path) -> Path:
    path = shared_data / "phantom" / "qrm-cci-canon-aquilion-one-large"
    if not path.is_dir():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def ct_dir(shared_data: Path) -> Path:
    path = shared_data / "dicom" / "ct"
    if not path.is_dir():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def small_phantom(tmp_path_factory):
    """A small synthetic phantom series (256 x 256, 0.9 mm pixels, 3 mm slices)."""
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    out = tmp_path_factory.mktemp("small_phantom")
    opts = SynthOptions(pixel_mm=0.9, matrix=256, z_start_mm=-12.0, z_end_mm=45.0, noise_hu=10.0, seed=3, scout=True)
    return synthesize_phantom(out, opts)


@pytest.fixture(autouse=True)
def _private_state(tmp_path, tmp_path_factory, monkeypatch):
    """Never touch the user's own database, site secret or cache from a test (the cache of validated
    definitions is shared by the session's tests, as by a user's runs)."""
    monkeypatch.setenv("QA_DB_URL", f"sqlite:///{tmp_path / 'default-qa.sqlite'}")
    monkeypatch.setenv("QA_SECRET_FILE", str(tmp_path / "site-secret"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


def postgres_server_url() -> str:
    """QA_TEST_POSTGRES_URL; without it the test is skipped (and fails in CI, QA_CI=1)."""
    url = os.environ.get("QA_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("QA_CI") == "1":
            pytest.fail("QA_TEST_POSTGRES_URL is not set in CI (.ci/run starts a server with .ci/postgres.sh)")
        pytest.skip("no PostgreSQL server here: set QA_TEST_POSTGRES_URL (for example by running .ci/postgres.sh)")
    return url


@pytest.fixture
def postgres_database():
    """A factory of new, empty PostgreSQL databases (uniquely named, dropped after the test):
    ``postgres_database()`` returns the URL of one.  Needs a role that may create databases."""
    import time
    import uuid

    import sqlalchemy as sa

    server = postgres_server_url()
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    created = []

    def create() -> str:
        name = f"qa_test_{uuid.uuid4().hex[:16]}"
        for attempt in range(10):
            try:
                with admin.connect() as c:
                    c.exec_driver_sql(f'CREATE DATABASE "{name}"')
                break
            except sa.exc.DBAPIError as exc:
                # CREATE DATABASE copies template1 and fails while another session is connected to it
                if "being accessed by other users" in str(exc.orig) and attempt < 9:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                pytest.fail(f"cannot create a test database on the PostgreSQL server at QA_TEST_POSTGRES_URL: {exc.orig}")
        created.append(name)
        return sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)

    yield create
    for name in created:
        # A plain DROP waits for autovacuum to leave the database (FORCE could not end that
        # superuser process); only connections a test left open need FORCE (ours, so allowed).
        try:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        except sa.exc.DBAPIError:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, and a new database on a real PostgreSQL server
    when one is configured (nothing in it: no tables, no alembic_version, no qa_meta)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'qa.sqlite'}"
    return request.getfixturevalue("postgres_database")()


@pytest.fixture(scope="session")
def phantom_days(tmp_path_factory):
    """Six synthetic daily phantom scans of one scanner (the sixth drifts +30 %), and one of another."""
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    root = tmp_path_factory.mktemp("phantom_days")
    folders = []
    for day in range(6):
        opts = SynthOptions(
            z_start_mm=-12.0, z_end_mm=45.0, noise_hu=8.0, seed=100 + day, rotation_deg=float(day),
            acquisition_datetime=f"2026-03-0{day + 1}T07:30:00", calcification_scale=1.3 if day == 5 else 1.0,
            station_name="CT-A", device_serial_number="A-001",
        )
        synthesize_phantom(root / f"day{day + 1}", opts)
        folders.append(root / f"day{day + 1}")
    other = root / "other-scanner"
    synthesize_phantom(other, SynthOptions(z_start_mm=-12.0, z_end_mm=45.0, noise_hu=8.0, seed=7, vendor="ge",
                                           thickness_mm=2.5, station_name="CT-B", device_serial_number="B-002"))
    return folders, other


def require_tool(name: str) -> str:
    """The path of an external program the test needs (dcmtk, Chromium, poppler): outside CI a test
    without it is skipped with the reason; in CI (QA_CI=1, where .ci/run installs it) it fails."""
    import shutil

    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install {TOOL_PACKAGES.get(name, name)}); .ci/run installs it"
        if os.environ.get("QA_CI") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


# The Debian package of each external program the tests use.
TOOL_PACKAGES = {"dcmdump": "dcmtk", "dcmftest": "dcmtk", "dsrdump": "dcmtk", "chromium": "chromium", "pdftoppm": "poppler-utils",
                 "pdftotext": "poppler-utils", "pdfinfo": "poppler-utils", "echoscu": "dcmtk", "storescu": "dcmtk", "storescp": "dcmtk",
                 "openssl": "openssl"}


def chromium_command(chromium: str, profile_dir) -> list[str]:
    """Headless Chromium that never reaches out to the network (this machine's network is closed)."""
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile_dir}"]


@pytest.fixture(scope="session")
def phantom_result(small_phantom):
    """A real phantom-QA result (the small synthetic phantom analysed with the built-in procedure)."""
    from qa.phantom.analysis import analyze_phantom
    from qa.dicom.series import load_series
    from qa.procedures import load_phantom, load_procedure

    return analyze_phantom(load_series(small_phantom.out_dir), load_phantom("qrm-cci"), load_procedure("daily-phantom-qa"))


def result_variant(result, *, uid: str | None = None, acquired: str | None = "keep", scanner=None, **changes):
    """``result`` as if it came from another series, acquisition time or scanner (for store tests)."""
    from dataclasses import replace

    if uid is not None:
        changes["series"] = replace(result.series, series_instance_uid=uid)
    if acquired != "keep":
        changes["acquisition"] = replace(result.acquisition, acquisition_datetime=acquired)
    if scanner is not None:
        changes["scanner"] = scanner
    return replace(result, **changes)


def provenance_at(analysis_time, qa_version: str = "test"):
    """The provenance of a stored result, analysed at ``analysis_time`` (aware datetime or ISO text)."""
    from qa.records.provenance import Provenance

    return Provenance(qa_version, analysis_time, ())
