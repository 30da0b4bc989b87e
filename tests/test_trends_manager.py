"""``qa trends dose|compliance``: the manager's aggregates, computed in SQLite and PostgreSQL, checked
against numpy and qa dose's own level choice on the same stored values.

The studies are written with the real store API (Store.save_study; tests/trend_studies.py); the
expected numbers are recomputed here from the records, never read back from the store.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest
from trend_studies import SCANNERS, fleet, postgres_database, save_all, study

from qa.dose import level_of_rank, level_rank, reference_level_for
from qa.errors import UsageError
from qa.procedures import load_dose_tables, load_protocol
from qa.workflows.trends import MAD_FACTOR, OUTLIER_MIN_GROUP, OUTLIER_Z, parse_by, store_trends

TABLES = load_dose_tables()
FLEET = fleet()
QUANTITIES = ("ctdivol_mgy", "dlp_total_mgycm", "dose_msv")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request, tmp_path_factory):
    """The fleet stored once per module in a SQLite file and in a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('trends') / 'qa.sqlite'}"
        save_all(url, FLEET)
        yield url
        return
    with postgres_database() as url:
        save_all(url, FLEET)
        yield url


def compared(planted):
    return [p for p in planted if p.record.has_dose_report and not p.record.is_qa]


def group_of(p, by):
    values = {"scanner": p.scanner, "protocol": p.record.protocol, "month": p.month}
    return tuple(values[k] for k in by)


def doc_group_key(group, by):
    names = {s.station_name: name for name, s in SCANNERS.items()}
    return tuple(names[group["scanner"]["station_name"]] if k == "scanner" else group[k] for k in by)


def trends(db, kind="dose", **options) -> dict:
    return store_trends(kind, db=db, **options).to_dict()


def percentile(values, q):
    return float(np.percentile(np.array(values, dtype=float), q, method="linear"))


# ------------------------------------------------------------------------------------ the aggregates


def test_every_dose_aggregate_is_numpys_on_the_same_values(db):
    doc = trends(db)
    by = ("scanner", "protocol", "month")
    expected = defaultdict(list)
    for p in compared(FLEET):
        expected[group_of(p, by)].append(p.record)
    groups = {doc_group_key(g, by): g for g in doc["groups"]}
    checked = 0
    for key, records in expected.items():
        g = groups[key]
        for q in QUANTITIES:
            values = [getattr(r, q) for r in records if getattr(r, q) is not None]
            got = g[q]
            assert got["n"] == len(values)
            # linear interpolation between closest ranks: numpy's default, to the last bit
            assert got["median"] == percentile(values, 50) and got["p75"] == percentile(values, 75), (key, q)
            assert got["mean"] == pytest.approx(float(np.mean(values)), rel=1e-12)
            checked += 1
    assert checked > 90


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17])
def test_percentiles_of_every_small_group_size_match_numpy(tmp_path, n):
    """Every remainder of (n - 1) x 2/4 and (n - 1) x 3/4 (the interpolation fractions 0, 1/4, 1/2, 3/4), ties included."""
    rng = random.Random(n)
    dlps = [round(rng.uniform(20, 200), 1) for _ in range(n)]
    if n > 3:
        dlps[1] = dlps[2]  # a tie
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    save_all(url, [study(i, "force", "CaScore", dt.date(2026, 4, 1 + i), dlp) for i, dlp in enumerate(dlps)])
    (g,) = trends(url, by="none")["groups"]
    assert (g["dlp_total_mgycm"]["median"], g["dlp_total_mgycm"]["p75"]) == (percentile(dlps, 50), percentile(dlps, 75))


def test_n_studies_counts_every_study_with_a_dose_report_qa_studies_included_and_flagged(db):
    doc = trends(db, by="scanner")
    for g in doc["groups"]:
        name = doc_group_key(g, ("scanner",))[0]
        mine = [p for p in FLEET if p.scanner == name]
        assert g["n_studies"] == sum(p.record.has_dose_report for p in mine)
        assert g["n_qa_studies"] == sum(p.record.has_dose_report and p.record.is_qa for p in mine) == 1
        assert g["n_without_dose_report"] == sum(not p.record.has_dose_report for p in mine)
        # the QA studies' 2000 mGy cm are never in the doses
        assert g["dlp_total_mgycm"]["n"] == len([p for p in compared(mine) if p.record.dlp_total_mgycm is not None])
    assert doc["n_studies"] == sum(p.record.has_dose_report for p in FLEET)


def test_groups_are_sorted_by_key_and_do_not_depend_on_the_ingest_order(db, tmp_path):
    doc = trends(db)
    keys = [(g["scanner"]["manufacturer"], g["protocol"] is None, g["protocol"] or "", g["month"] is None, g["month"] or "")
            for g in doc["groups"]]
    assert keys == sorted(keys)
    other = f"sqlite:///{tmp_path / 'reversed.sqlite'}"
    save_all(other, list(reversed(FLEET)))
    again = trends(other)
    assert json.dumps(again["groups"]) == json.dumps(doc["groups"]) and again["outliers"] == doc["outliers"]


def test_any_subset_of_keys_groups_in_the_order_given(db):
    by_month = trends(db, by="month,scanner")
    months = [(g["month"] is None, g["month"] or "") for g in by_month["groups"]]
    assert months == sorted(months) and set(by_month["groups"][0]) >= {"month", "scanner"}
    assert "protocol" not in by_month["groups"][0]
    (everything,) = trends(db, by="none")["groups"]
    assert not {"scanner", "protocol", "month"} & set(everything)
    assert everything["dlp_total_mgycm"]["median"] == percentile(
        [p.record.dlp_total_mgycm for p in compared(FLEET) if p.record.dlp_total_mgycm is not None], 50)
    assert parse_by(" Scanner , month ") == ("scanner", "month")
    for bad in ("scanner,site", "month,month"):
        with pytest.raises(UsageError):
            parse_by(bad)


def test_a_scanner_is_its_manufacturer_model_and_serial_or_its_station_name(db):
    doc = trends(db, by="scanner")
    scanners = {g["scanner"]["station_name"]: g["scanner"] for g in doc["groups"]}
    assert scanners["CT-A"] == {"manufacturer": "SIEMENS", "model": "SOMATOM Force", "serial": "F-100", "station_name": "CT-A"}
    assert scanners["CT-C"]["serial"] is None and scanners["CT-C"]["model"] == "Aquilion ONE"


def test_the_period_is_inclusive_on_the_sites_wall_clock_and_undated_studies_are_named(db):
    doc = trends(db, by="month", date_from="2026-02", date_to="2026-02-28")
    assert [g["month"] for g in doc["groups"]] == ["2026-02"] and (doc["from"], doc["to"]) == ("2026-02-01", "2026-02-28")
    feb = [p for p in FLEET if p.month == "2026-02"]
    assert doc["groups"][0]["n_studies"] == sum(p.record.has_dose_report for p in feb)
    assert any("1 study without a date" in w for w in doc["warnings"])
    one_day = trends(db, by="none", date_from="2026-02-14", date_to="2026-02-14")
    assert one_day["n_studies"] == sum(p.record.has_dose_report for p in feb if p.record.study_datetime.startswith("2026-02-14"))
    (undated,) = [g for g in trends(db, by="month")["groups"] if g["month"] is None]
    assert undated["n_studies"] == 1
    for bad in (dict(date_from="2026-13"), dict(date_to="yesterday"), dict(date_from="2026-03-01", date_to="2026-02-01")):
        with pytest.raises(UsageError):
            trends(db, **bad)


def test_protocol_patterns_and_one_scanner(db):
    doc = trends(db, by="protocol", protocol="*cta*")
    assert [g["protocol"] for g in doc["groups"]] == ["Coronary CTA"]
    doc = trends(db, by="protocol", protocol="CASCORE")  # case ignored
    assert [g["protocol"] for g in doc["groups"]] == ["CaScore"]
    doc = trends(db, by="scanner", scanner="CT-C")
    assert [g["scanner"]["station_name"] for g in doc["groups"]] == ["CT-C"]
    assert doc["filters"]["scanner_matched"]["station_name"] == "CT-C"
    doc = trends(db, protocol="no such protocol")
    assert doc["groups"] == [] and "no stored study" in doc["warnings"][0]


# ------------------------------------------------------------------------------------ reference levels


def expected_level(record):
    named = load_protocol(record.qa_protocol).reference_level if record.qa_protocol else None
    level, _ = reference_level_for(TABLES, protocol_id=record.qa_protocol, named_level=named,
                                   names=[record.protocol] + [e.protocol for e in record.events],
                                   region_codes=[(e.target_region_code, e.target_region_scheme) for e in record.events
                                                 if e.target_region_code])
    return level


def test_each_study_takes_the_level_qa_dose_would_choose_and_each_level_is_compared_its_way(db):
    doc = trends(db)
    by = ("scanner", "protocol", "month")
    expected = defaultdict(lambda: defaultdict(list))
    for p in compared(FLEET):
        level = expected_level(p.record)
        if level is not None:
            expected[group_of(p, by)][level.id].append(p.record)
    groups = {doc_group_key(g, by): g for g in doc["groups"]}
    above = 0
    for key, g in groups.items():
        got = {(lv["id"], lv["quantity"]): lv for lv in g["reference_levels"]}
        want = {}
        for level_id, records in expected.get(key, {}).items():
            level = next(lv for lv in TABLES.reference_levels if lv.id == level_id)
            for quantity, column in (("ctdivol_mgy", "ctdivol_mgy"), ("dlp_mgycm", "dlp_total_mgycm"), ("dose_msv", "dose_msv")):
                limit = getattr(level, quantity)
                if limit is not None:
                    want[(level_id, quantity)] = (level, limit, [getattr(r, column) for r in records])
        assert set(got) == set(want), key
        for (level_id, quantity), (level, limit, values) in want.items():
            lv = got[(level_id, quantity)]
            assert (lv["kind"], lv["compares"], lv["limit"], lv["n"]) == (level.kind, level.compares, limit, len(values))
            if level.compares == "median":  # a DRL: the group's median against it
                assert lv["value"] == percentile(values, 50) and lv["exceeded"] == (percentile(values, 50) > limit)
                assert lv["n_above"] is None
                above += lv["exceeded"]
            else:  # a per-exam alert level: every exam against it
                assert lv["n_above"] == sum(v > limit for v in values) and lv["value"] == max(values) and lv["exceeded"] is None
    assert above == 1  # the planted CCTA group of CT-B in March


def test_a_group_whose_studies_take_different_levels_reports_each_over_its_own_studies(db):
    doc = trends(db, by="scanner", scanner="CT-A")
    (g,) = doc["groups"]
    ids = {lv["id"] for lv in g["reference_levels"]}
    assert ids == {"site-cac", "uk-ndrl-ccta-prospective"}
    ccta = [p for p in compared(FLEET) if p.scanner == "force" and expected_level(p.record) is not None
            and expected_level(p.record).id == "uk-ndrl-ccta-prospective"]
    (drl,) = [lv for lv in g["reference_levels"] if lv["id"] == "uk-ndrl-ccta-prospective"]
    assert drl["n"] == len(ccta) == 24  # the "Coronary CTA" study checked as a calcium score took site-cac
    site = [lv for lv in g["reference_levels"] if lv["id"] == "site-cac" and lv["quantity"] == "dlp_mgycm"][0]
    assert site["n_above"] == 1  # the 480 mGy cm outlier


def test_a_studys_level_is_the_smallest_rank_of_its_inputs_taken_one_at_a_time():
    """The decomposition the database relies on, against reference_level_for on every combination."""
    levels = tuple(replace(lv, regions=regions) for lv, regions in zip(
        TABLES.reference_levels, ((), (("T-32000", "SRT"),), (("80891009", "SCT"), ("T-32000", "SRT")), ())))
    tables = replace(TABLES, reference_levels=levels)
    rng = random.Random(5)
    protocols = [None, "cac-standard", "ccta-prospective", "other", "cac-ge"]
    names = ["CaScore", "Coronary CTA", "Thorax", "ctca run", "Calcium score", None]
    regions = [("T-32000", "SRT"), ("80891009", "SCT"), ("T-D3000", "SRT")]
    for _ in range(400):
        pid = rng.choice(protocols)
        named = rng.choice([None, "site-cac", "uk-ndrl-ccta-prospective-padding", "nonexistent"]) if pid else None
        my_names = rng.sample(names, rng.randrange(4))
        my_regions = rng.sample(regions, rng.randrange(3))
        want, _ = reference_level_for(tables, protocol_id=pid, named_level=named, names=my_names, region_codes=my_regions)
        ranks = [level_rank(tables, protocol_id=pid, named_level=named)] if pid else []
        ranks += [level_rank(tables, name=n) for n in my_names if n] + [level_rank(tables, region_code=c) for c in my_regions]
        ranks = [r for r in ranks if r is not None]
        got = level_of_rank(tables, min(ranks)) if ranks else None
        assert got == want, (pid, named, my_names, my_regions)


# ------------------------------------------------------------------------------------ outliers


def robust_outliers(values):
    values = np.array(values, dtype=float)
    median = np.percentile(values, 50)
    mad = np.percentile(np.abs(values - median), 50)
    if len(values) < OUTLIER_MIN_GROUP or mad == 0:
        return {}
    z = (values - median) / (MAD_FACTOR * mad)
    return {i: float(z[i]) for i in np.flatnonzero(np.abs(z) > OUTLIER_Z)}


def test_outliers_are_the_robust_z_beyond_3_5_in_each_scanner_and_protocol_group(db):
    doc = trends(db)
    for quantity in ("dlp_total_mgycm", "ctdivol_mgy"):
        groups = defaultdict(list)
        for p in compared(FLEET):
            if getattr(p.record, quantity) is not None:
                groups[(p.scanner, p.record.protocol)].append(p.record)
        want = {}
        for records in groups.values():
            for i, z in robust_outliers([getattr(r, quantity) for r in records]).items():
                want[records[i].study_key] = z
        got = {o["study_key"]: o for o in doc["outliers"] if o["quantity"] == quantity}
        assert set(got) == set(want) and {_planted(480.0), _planted(9.0)} <= set(want)
        for key, o in got.items():
            assert o["z"] == pytest.approx(want[key], rel=1e-12)
            assert o["value"] == getattr(next(p.record for p in FLEET if p.record.study_key == key), quantity)
    zs = [abs(o["z"]) for o in doc["outliers"] if o["quantity"] == "dlp_total_mgycm"]
    assert zs == sorted(zs, reverse=True) and doc["outliers"][0]["quantity"] == "dlp_total_mgycm"


def _planted(dlp):
    return next(p.record.study_key for p in FLEET if p.record.dlp_total_mgycm == dlp and not p.record.is_qa)


def test_groups_too_small_or_without_spread_have_no_outliers(tmp_path):
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    few = [study(i, "force", "A", dt.date(2026, 5, 1 + i), dlp) for i, dlp in enumerate([50.0, 51.0, 52.0, 500.0])]
    flat = [study(10 + i, "force", "B", dt.date(2026, 5, 1 + i), dlp) for i, dlp in enumerate([50.0] * 6 + [400.0])]
    save_all(url, few + flat)
    assert trends(url)["outliers"] == []  # 4 values < 5; MAD 0


# ------------------------------------------------------------------------------------ compliance


def test_compliance_counts_the_latest_checklist_of_each_study_by_status_with_failure_rates(db):
    doc = trends(db, "compliance", by="scanner")
    for g in doc["groups"]:
        name = doc_group_key(g, ("scanner",))[0]
        counts = defaultdict(lambda: defaultdict(int))
        verdicts = defaultdict(int)
        checked = 0
        for p in FLEET:
            if p.scanner != name or not p.record.exam_checks:
                continue
            latest = max(p.record.exam_checks, key=lambda c: c.analysed_at)
            checked += 1
            verdicts[latest.verdict] += 1
            for c in latest.checks:
                counts[c.id][c.status] += 1
        assert g["n_checked"] == checked and g["verdicts"] == {v: verdicts[v] for v in ("pass", "incomplete", "warn", "fail")}
        assert g["n_incomplete"] == verdicts["incomplete"] and g["pass_rate"] == verdicts["pass"] / checked
        for c in g["checks"]:
            want = counts[c["id"]]
            assert {s: c[s] for s in ("pass", "warn", "fail", "not_available", "not_applicable")} == {
                s: want[s] for s in ("pass", "warn", "fail", "not_available", "not_applicable")}
            judged = want["pass"] + want["warn"] + want["fail"]
            assert c["judged"] == judged and c["failure_rate"] == (want["fail"] / judged if judged else None)
        rates = [(c["failure_rate"] is None, -(c["failure_rate"] or 0)) for c in g["checks"]]
        assert rates == sorted(rates) and {c["id"] for c in g["checks"]} == set(counts)
    aquilion = next(g for g in doc["groups"] if g["scanner"]["station_name"] == "CT-C")
    kernel = next(c for c in aquilion["checks"] if c["id"] == "kernel")
    assert kernel["failure_rate"] is None and kernel["not_applicable"] > 0 and aquilion["checks"][-1]["id"] == "kernel"


# ------------------------------------------------------------------------------------ the two databases


def test_sqlite_and_postgresql_give_the_same_document_and_postgresqls_percentile_cont_agrees(tmp_path):
    import sqlalchemy as sa

    sqlite_url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    save_all(sqlite_url, FLEET)
    with postgres_database() as pg_url:
        save_all(pg_url, FLEET)
        for kind in ("dose", "compliance"):
            docs = [trends(url, kind) for url in (sqlite_url, pg_url)]
            for d in docs:
                d.pop("analysis_time")
            assert docs[0]["groups"] and docs[0] == docs[1]
        # and PostgreSQL's own percentile_cont agrees with the portable SQL
        engine = sa.create_engine(pg_url)
        with engine.connect() as c:
            rows = c.execute(sa.text(
                "SELECT s.station_name, percentile_cont(0.5) WITHIN GROUP (ORDER BY dlp_total_mgycm), "
                "percentile_cont(0.75) WITHIN GROUP (ORDER BY dlp_total_mgycm) FROM studies JOIN scanners s ON s.id = scanner_id "
                "WHERE has_dose_report AND NOT is_qa AND dlp_total_mgycm IS NOT NULL GROUP BY s.station_name")).all()
        engine.dispose()
    ours = {g["scanner"]["station_name"]: g["dlp_total_mgycm"] for g in trends(sqlite_url, by="scanner")["groups"]}
    assert len(rows) == 3
    for station, median, p75 in rows:
        assert ours[station]["median"] == pytest.approx(median, rel=1e-14) and ours[station]["p75"] == pytest.approx(p75, rel=1e-14)


# ------------------------------------------------------------------------------------ exports and the command


def test_the_csv_has_one_row_per_group_with_units_in_the_heads(db, tmp_path):
    path = tmp_path / "out" / "dose.csv"
    path.parent.mkdir()  # qa creates no folder for an output file
    doc = trends(db, by="scanner,month", csv=path)
    assert doc["exported"] == str(path)
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(doc["groups"])
    for head in ("CTDIvol median (mGy)", "DLP p75 (mGy cm)", "Effective dose mean (mSv)", "Serial number", "Month",
                 "site-cac: DLP exams above 200 mGy cm", "uk-ndrl-ccta-prospective: DLP median above 170 mGy cm"):
        assert head in rows[0], head
    first = doc["groups"][0]
    assert float(rows[0]["DLP median (mGy cm)"]) == first["dlp_total_mgycm"]["median"]
    assert rows[0]["Station name"] == first["scanner"]["station_name"] and rows[0]["Month"] == first["month"]
    aquilion = next(r for r in rows if r["Station name"] == "CT-C")
    assert aquilion["Serial number"] == ""


def test_the_xlsx_opens_in_a_spreadsheet_with_the_groups_and_the_outliers(db, tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "dose.xlsx"
    doc = trends(db, xlsx=path)
    book = load_workbook(path, read_only=True)
    assert book.sheetnames == ["groups", "outliers"]
    rows = list(book["groups"].iter_rows(values_only=True))
    heads = rows[0]
    assert len(rows) == len(doc["groups"]) + 1 and "CTDIvol p75 (mGy)" in heads and "Protocol" in heads
    g = doc["groups"][0]
    assert rows[1][heads.index("CTDIvol median (mGy)")] == g["ctdivol_mgy"]["median"]
    assert rows[1][heads.index("Studies with a dose report")] == g["n_studies"]
    outliers = list(book["outliers"].iter_rows(values_only=True))
    assert len(outliers) == len(doc["outliers"]) + 1 and outliers[1][0] == doc["outliers"][0]["study_key"]
    assert "Robust z" in outliers[0] and outliers[1][outliers[0].index("Unit")] == "mGy cm"
    book.close()
    compliance = tmp_path / "compliance.xlsx"
    trends(db, "compliance", by="protocol", xlsx=compliance)
    heads = next(load_workbook(compliance, read_only=True)["groups"].iter_rows(values_only=True))
    assert "heart_rate failure rate (%)" in heads and "kvp not available" in heads


def run_qa(*args):
    out = subprocess.run([sys.executable, "-m", "qa", *map(str, args)], capture_output=True, text=True, timeout=300)
    return out.returncode, out.stdout, out.stderr


def test_the_command_prints_units_rounded_values_and_json(db, tmp_path):
    code, out, err = run_qa("trends", "dose", "--db", db, "--by", "scanner")
    assert code == 0, err
    assert "DLP median (mGy cm)" in out and "CTDIvol p75 (mGy)" in out and "Outliers" in out
    assert "site-cac (per exam)" in out
    code, out, err = run_qa("trends", "compliance", "--db", db, "--by", "protocol", "--json")
    assert code == 0 and json.loads(out)["schema"] == "qa.trends/1" and "failure rate (%)" in err


def test_the_command_exits_2_for_a_missing_store_bad_keys_and_two_exports(tmp_path):
    missing = f"sqlite:///{tmp_path / 'none.sqlite'}"
    code, out, err = run_qa("trends", "dose", "--db", missing, "--json")
    assert code == 2 and json.loads(out)["schema"] == "qa.error/1" and "no results store" in json.loads(out)["error"]["message"]
    assert not (tmp_path / "none.sqlite").exists()  # only read: nothing created
    code, _, err = run_qa("trends", "dose", "--db", missing, "--by", "scanner,site")
    assert code == 2 and "unknown grouping key" in err
    code, _, err = run_qa("trends", "dose", "--csv", tmp_path / "a.csv", "--xlsx", tmp_path / "a.xlsx")
    assert code == 2 and "not allowed with" in err


def test_the_store_is_only_read(tmp_path):
    path = tmp_path / "qa.sqlite"
    save_all(f"sqlite:///{path}", FLEET[:40])
    before = path.read_bytes()
    path.chmod(0o444)  # a store the manager may only read
    assert trends(f"sqlite:///{path}")["groups"] and trends(f"sqlite:///{path}", "compliance")["groups"]
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["qa.sqlite"]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12", "UTC"])
def test_one_scanners_period_keeps_every_study_of_its_days_in_any_time_zone(tmp_path, monkeypatch, zone):
    """A scanner's period also reads by month (the scanner-month index): the months never cut a day off."""
    import time

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
        edges = [("2026-02-28T23:59:00", False), ("2026-03-01T00:00:00", True), ("2026-03-31T23:59:00", True),
                 ("2026-04-01T00:00:00", False)]
        planted = []
        for n, (when, _) in enumerate(edges):
            p = study(n, "force", "CaScore", dt.date(2026, 3, 1), 50.0 + n)
            planted.append(replace(p, record=replace(p.record, study_datetime=when, study_month=when[:7])))
        save_all(url, planted)
        for scanner in (None, "CT-A"):
            doc = trends(url, by="none", date_from="2026-03", date_to="2026-03", scanner=scanner)
            assert doc["n_studies"] == sum(inside for _, inside in edges), (zone, scanner)
    finally:
        monkeypatch.undo()
        time.tzset()
