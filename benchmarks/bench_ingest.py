"""The ingest rate of `qa ingest` against a bare header-reading loop (issue 13: >= 0.5x with 2 workers).

    .venv/bin/python benchmarks/bench_ingest.py [--exams 30] [--workers 2] [--db URL] [--repeats 3]

Synthetic calcium-score exams (``qa synth exam``: 3 stacks of 40 mm at 3 mm, 40 slices each, as a
calcium score covers the heart; 32 x 32 pixels, since neither loop reads pixels) each with its CT
dose report (``write_dose_report``) are written once.  Then, alternately
in the same run: the bare loop (``pydicom.dcmread(path, stop_before_pixels=True)`` over every file,
one process: what any header-reading tool costs at least) and a whole ingest into a new, empty
store (created beforehand, outside the timing) (:func:`qa.workflows.ingest.ingest` with ``--workers``: finding, indexing, reading, the dose,
the checklists and storing every study, each committed to the store on its own).  Both are run
once untimed first (the bare loop warms the OS cache; both warm their imports, which a process
pays once); each timed ingest still loads its definitions, starts its workers and opens its store.  Printed: both medians in files per second and their
ratio (ingest / bare loop).  Also printed: the CPU time each spends per file (this process and its
workers, from ``getrusage``), and the ratio the two would have on ``--workers`` idle cores (the bare
loop's CPU per file over the ingest's, times the workers): on a machine busy with other work the
wall-clock ratio understates what parallel workers do.  The default store is a SQLite file;
``--db`` gives a PostgreSQL server URL (a new database is made on it per repeat and dropped afterwards).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path


def write_exams(root: Path, n: int) -> list[str]:
    import pydicom

    from qa.dicom.write_rdsr import SyntheticEvent, write_dose_report
    from qa.workflows.synth import ExamSynthOptions, synthesize_exam

    for k in range(n):
        folder = root / f"exam{k:04d}"
        result = synthesize_exam(folder, ExamSynthOptions(
            seed=k, matrix=32, pixel_mm=8.0, noise_hu=0.0, stacks=3, stack_mm=40.0, overlap_mm=0.0,
            acquisition_datetime=f"2026-{1 + k % 12:02d}-{1 + k % 28:02d}T09:15:00",
            station_name=f"CT-{k % 3}", device_serial_number=f"SN-{k % 3}"))
        study = pydicom.dcmread(result.files[0], stop_before_pixels=True).StudyInstanceUID
        write_dose_report(folder / "rdsr.dcm", [SyntheticEvent(protocol="Calcium Score", ctdivol_mgy=2.0 + k % 5)],
                          study_uid=study, station_name=f"CT-{k % 3}", serial=f"SN-{k % 3}")
    return sorted(str(p) for p in root.rglob("*.dcm"))


def bare_loop(paths: list[str]) -> None:
    import pydicom

    for path in paths:
        pydicom.dcmread(path, stop_before_pixels=True)


def new_database(server: str | None, tmp: Path) -> tuple[str, object]:
    if server is None:
        path = tmp / f"bench-{uuid.uuid4().hex[:8]}.sqlite"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    import sqlalchemy as sa

    name = f"qa_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop():
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False), drop


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (the ingest's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exams", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db", help="a PostgreSQL server URL (default: SQLite files)")
    args = parser.parse_args()

    from qa.store import Store
    from qa.workflows.ingest import ingest

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.setdefault("QA_SECRET_FILE", str(root / "site-secret"))
        paths = write_exams(root / "exams", args.exams)
        n = len(paths)
        bare_loop(paths)  # warm the OS cache and the imports
        url, drop = new_database(args.db, root)
        try:  # likewise one ingest, untimed: its imports happen once per process, not once per run
            ingest([root / "exams"], db=url, workers=args.workers)
        finally:
            drop()
        bares, ingests, bare_cpus, ingest_cpus = [], [], [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), cpu_s()
            bare_loop(paths)
            bares.append(time.perf_counter() - t0)
            bare_cpus.append(cpu_s() - c0)
            url, drop = new_database(args.db, root)
            try:
                Store(url).close()  # an empty store of the current layout: its creation is not the ingest's rate
                t0, c0 = time.perf_counter(), cpu_s()
                run = ingest([root / "exams"], db=url, workers=args.workers)
                ingests.append(time.perf_counter() - t0)
                ingest_cpus.append(cpu_s() - c0)
                assert run.studies.added == args.exams, run.studies
            finally:
                drop()
        bare, whole = statistics.median(bares), statistics.median(ingests)
        bare_cpu, whole_cpu = statistics.median(bare_cpus), statistics.median(ingest_cpus)
        print(f"files: {n} ({args.exams} exams with their dose reports); store: {'PostgreSQL' if args.db else 'SQLite'}; "
              f"cores: {os.cpu_count()}")
        print(f"bare pydicom header loop (1 process): {n / bare:8.1f} files/s  (median of {args.repeats}: {bare:.2f} s)")
        print(f"qa ingest --workers {args.workers}:              {n / whole:8.1f} files/s  (median of {args.repeats}: {whole:.2f} s)")
        print(f"ratio ingest / bare loop: {bare / whole:.2f}x (target >= 0.5x with 2 workers)")
        print(f"CPU per file: bare loop {1000 * bare_cpu / n:.2f} ms, ingest {1000 * whole_cpu / n:.2f} ms; on {args.workers} idle cores "
              f"the ratio would be {args.workers * bare_cpu / whole_cpu:.2f}x (load average now {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
