"""Several sites ingesting into one PostgreSQL at once (issue 13, point 5): no duplicate, no loss.

Skipped without a PostgreSQL server (QA_TEST_POSTGRES_URL; CI sets it, .ci/postgres.sh starts one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import sqlalchemy as sa
from ingest_site import write_exam

from qa.store import Store


def _snapshot(url: str) -> dict:
    store = Store(url)
    try:
        return {"counts": store.study_counts(),
                "studies": {s.record.study_key: (s.record.dlp_total_mgycm, s.record.dose_msv, s.record.study_month, s.record.scanner.key,
                                                 sorted(e.irradiation_event_uid for e in s.record.events),
                                                 sorted((c.protocol_id, c.verdict) for c in s.record.exam_checks))
                            for s in store.studies()}}
    finally:
        store.close()


def test_four_ingests_over_overlapping_folders_into_one_postgresql_lose_and_duplicate_nothing(tmp_path, postgres_database):
    exams = [write_exam(tmp_path / "all", n, month=1 + n % 6, station=f"CT-{n % 3}", serial=f"SN-{n % 3}")[0] for n in range(8)]
    folders = []
    for k in range(4):  # site k holds exams 2k .. 2k+3 (each exam is at two sites) and exam 0 (at every site)
        site = tmp_path / f"site{k}"
        for n in sorted({0, *(i % 8 for i in range(2 * k, 2 * k + 4))}):
            shutil.copytree(exams[n], site / exams[n].name)
        folders.append(site)
    url, clean = postgres_database(), postgres_database()
    Store(url).close()  # the layout exists: the four start on their studies together
    env = dict(os.environ)
    children = [subprocess.Popen([sys.executable, "-m", "qa", "ingest", str(folder), "--db", url, "--workers", "2"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for folder in folders]
    results = [(child.wait(timeout=300), child.stdout.read(), child.stderr.read()) for child in children]
    for code, out, err in results:
        assert code == 0, err
    done = subprocess.run([sys.executable, "-m", "qa", "ingest", str(tmp_path / "all"), "--db", clean], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    together, alone = _snapshot(url), _snapshot(clean)
    assert together == alone
    assert together["counts"]["studies"] == 8 and together["counts"]["dose_events"] == 8 and together["counts"]["exam_checks"] == 8
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT count(*) FROM scanners")).scalar() == 3  # one per station (the images name it)
            objects = c.execute(sa.text("SELECT count(*), count(DISTINCT sop_instance_uid) FROM ingested_objects")).one()
    finally:
        engine.dispose()
    files = sum(1 for folder in exams for p in folder.iterdir() if p.suffix == ".dcm")
    assert tuple(objects) == (files, files)
