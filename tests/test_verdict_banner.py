"""The verdict says what to do: the level, the procedure's action for it, the failed checks first,
warnings apart, and a first run without a baseline never reads as all clear (qa phantom, qa check)."""

from __future__ import annotations

import json

import pytest

from qa.cli import main
from qa.errors import DefinitionError
from qa.procedures import load_procedure
from qa.procedures.builtin import builtin_dir
from qa.records.checks import Check
from qa.records.display import check_values, display, unit_of
from qa.records.verdicts import Actions, failing_first, run_verdict, summarise_verdict

ACTIONS = Actions(fail="stop", warn="look", incomplete="not all clear", pass_="go")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_first_run_without_a_baseline_says_how_many_checks_could_not_be_run_and_why(capsys, phantom_days, tmp_path):
    folders, _ = phantom_days
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    code, out, err = run(capsys, "phantom", folders[0], "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    summary = doc["summary"]
    assert doc["verdict"] == "incomplete" == summary["level"]  # the verdict says what the banner says
    not_run = [c["id"] for c in doc["checks"] if c["status"] == "not_available"]
    assert summary["n_not_run"] == len(not_run) >= 8 and summary["headline"].startswith(f"INCOMPLETE: {len(not_run)} of ")
    assert sorted(i for g in summary["not_run"] for i in g["checks"]) == sorted(not_run)
    assert any("no baseline for this scanner yet" in g["reason"] and "mass_800_5mm" in g["checks"] for g in summary["not_run"])
    assert summary["action"] == load_procedure("daily-phantom-qa").actions.incomplete
    verdicts = [line for line in err.splitlines() if line.startswith("VERDICT")]
    assert verdicts == [f"VERDICT  {summary['headline']}"] and "PASS" not in verdicts[0]
    assert "ACTION   Not all clear: a check that could not be run is no pass." in err
    assert "not run  " in err and "no baseline for this scanner yet" in err


def test_a_failed_run_names_the_failures_first_and_the_procedures_action(capsys, phantom_days, tmp_path):
    folders, _ = phantom_days
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    for folder in folders[:5]:
        assert run(capsys, "phantom", folder, "--db", db)[0] == 0
    assert run(capsys, "baseline", "set", "--scanner", "CT-A", "--from-last", "5", "--db", db)[0] == 0
    code, out, _ = run(capsys, "phantom", folders[5], "--db", db)
    assert code == 1
    lines = out.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("check "))) + 2:]
    statuses = [line.split()[1] for line in table[: next(i for i, line in enumerate(table) if not line.strip())]]
    assert statuses[0] == "FAIL" and statuses == sorted(statuses, key=["FAIL", "WARN", "NOT_AVAILABLE", "PASS"].index)
    assert "acquisition_kvp                       PASS    120 kV" in out  # display units and precision, not 120.000
    verdict = lines.index(next(line for line in lines if line.startswith("VERDICT")))
    assert lines[verdict].startswith("VERDICT  FAIL: ") and "checks failed" in lines[verdict]
    assert lines[verdict + 1] == "ACTION   Do not use this scanner for calcium scoring until the physicist has reviewed this run."
    failed = [line for line in lines[verdict:] if line.startswith("failed   ")]
    assert failed and failed[0].startswith("failed   mass_800_5mm: mass_800_5mm ") and "beyond the action level" in failed[0]


def test_a_sites_own_actions_are_what_the_banner_says(capsys, phantom_days, tmp_path):
    folders, _ = phantom_days
    text = (builtin_dir("procedures") / "daily-phantom-qa.toml").read_text()
    text = text[: text.index("[actions]")] + '[actions]\nincomplete = "Call the physicist on 4711 before the first patient."\n'
    own = tmp_path / "our-qa.toml"
    own.write_text(text)
    procedure = load_procedure(str(own))
    assert procedure.actions.incomplete == "Call the physicist on 4711 before the first patient."
    assert procedure.actions.fail == load_procedure("daily-phantom-qa").actions.fail  # not written: the built-in text
    code, out, _ = run(capsys, "phantom", folders[0], "--procedure", own, "--no-store")
    assert code == 0 and "ACTION   Call the physicist on 4711 before the first patient." in out


def test_an_actions_table_with_an_unknown_level_or_an_empty_text_is_refused(tmp_path):
    text = (builtin_dir("procedures") / "daily-phantom-qa.toml").read_text()
    head = text[: text.index("[actions]")]
    bad = tmp_path / "bad.toml"
    bad.write_text(head + '[actions]\npassed = "go"\n')
    with pytest.raises(DefinitionError) as caught:
        load_procedure(str(bad))
    assert caught.value.key == "actions.passed" and "pass" in caught.value.message and "pass_" not in caught.value.message
    bad.write_text(head + '[actions]\nfail = "  "\n')
    with pytest.raises(DefinitionError) as caught:
        load_procedure(str(bad))
    assert caught.value.key == "actions.fail"


def test_warnings_are_never_listed_as_failures_and_a_clean_pass_is_all_clear():
    checks = [Check("a", "pass", 1, 1, "ok"), Check("b", "warn", 2, 1, "high"), Check("c", "fail", 9, 1, "far off"),
              Check("d", "not_available", None, None, "no baseline"), Check("e", "not_available", None, None, "no baseline"),
              Check("f", "not_applicable", None, None, "one stack")]
    s = summarise_verdict(checks, "fail", ACTIONS)
    assert (s.level, s.action, s.failed, s.warned) == ("fail", "stop", ("c",), ("b",))
    assert s.headline == "FAIL: 1 of 5 checks failed, 1 warned, 2 could not be run"
    assert [(g.reason, g.checks) for g in s.not_run] == [("no baseline", ("d", "e"))] and s.n_not_run == 2
    assert [c.id for c in failing_first(checks)] == ["c", "b", "d", "e", "a", "f"]
    clean = summarise_verdict([checks[0], checks[5]], "pass", ACTIONS)
    assert (clean.level, clean.headline, clean.action) == ("pass", "PASS: all 1 checks passed", "go")
    missing = summarise_verdict([checks[0], checks[3]], "pass", ACTIONS)
    assert (missing.level, missing.action) == ("incomplete", "not all clear")
    assert missing.headline == "INCOMPLETE: 1 of 2 checks could not be run"


def test_values_are_shown_in_display_units_and_precision():
    assert display(120.0, unit_of("acquisition_kvp")) == "120 kV"
    assert display(2.5, unit_of("acquisition_slice_thickness_mm")) == "2.5 mm"
    assert display([74.0271, 90.4781], unit_of("mass_800_5mm", "mass_800_5mm")) == "74.03 to 90.48 mg"
    assert display(0.715312, unit_of("c_ha", "c_ha")) == "0.7153 mg/(cm³ HU)"
    assert unit_of("c_ha", "c_ha", ascii=True) == "mg/(cm3 HU)"
    assert display(46.08, unit_of("dlp")) == "46.08 mGy cm" and display(78, unit_of("heart_rate")) == "78 bpm"
    assert display(12345.6, "mm³") == "12346 mm³" and display(None, "mg") == "-" and display("found", "") == "found"
    check = Check("water_hu", "pass", 20.8621, [14.149, 26.149], "ok", {"metric": "water_hu"})
    assert check_values(check) == ("20.86 HU", "14.15 to 26.15 HU")
    assert unit_of("detected_800_5mm") == "" and unit_of("acquisition_exposure_mas_vs_baseline") == "mAs"


def test_qa_check_prints_the_protocols_action_under_its_verdict(capsys, tmp_path):
    from qa.workflows.synth import ExamSynthOptions, synthesize_exam

    exam = tmp_path / "exam"
    synthesize_exam(exam, ExamSynthOptions(seed=3, matrix=32, pixel_mm=8.0, noise_hu=0.0, stacks=2, stack_mm=12.0, overlap_mm=0.0))
    code, out, err = run(capsys, "check", exam, "--json")
    doc = json.loads(out)
    summary = doc["summary"]
    assert summary["level"] in ("fail", "warn", "incomplete", "pass") and summary["action"]
    assert f"VERDICT  {summary['headline']}" in err and f"ACTION   {summary['action']}" in err
    fov = next(c for c in doc["checks"] if c["id"] == "reconstruction_fov")
    assert fov["message"].startswith("reconstruction field of view 256 mm within 180 to 260 mm")
    assert next(c for c in doc["checks"] if c["id"] == "kvp")["message"] == "tube voltage 120 kV as the protocol expects"
    assert (code == 1) == (summary["level"] == "fail")


def test_runs_without_a_baseline_are_incomplete_when_stored_and_trended_and_still_set_the_first_baseline(capsys, phantom_days,
                                                                                                          tmp_path):
    folders, _ = phantom_days
    db = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    for folder in folders[:5]:
        code, out, err = run(capsys, "phantom", folder, "--db", db, "--json")
        assert code == 0 and json.loads(out)["verdict"] == "incomplete", err
    code, out, err = run(capsys, "trend", "--scanner", "CT-A", "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {r["verdict"] for chart in doc["metrics"].values() for r in chart["runs"]} == {"incomplete"}
    rows = [line.split() for line in err.splitlines() if line.strip().startswith(("1 ", "2 ", "3 ", "4 ", "5 "))]
    assert rows and all(row[-1] == "INCOMPLETE" for row in rows) and "INCOMPLETE: none failed or warned" in err
    # incomplete runs are no failed runs: they set the first baseline, and the next run is judged by it
    code, out, err = run(capsys, "baseline", "set", "--scanner", "CT-A", "--from-last", "5", "--db", db)
    assert code == 0 and "baseline version 1" in out, err
    code, out, err = run(capsys, "phantom", folders[4], "--db", db, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] in ("pass", "warn") and doc["summary"]["n_not_run"] == 0 and doc["stored"]["replaced"], err


def test_a_warning_with_checks_not_run_takes_the_incomplete_action_never_may_be_used(capsys, tmp_path):
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    scan = tmp_path / "high-dose"
    synthesize_phantom(scan, SynthOptions(z_start_mm=-12.0, z_end_mm=45.0, noise_hu=8.0, seed=5, ctdivol_mgy=25.0))
    report = tmp_path / "report.html"
    code, out, err = run(capsys, "phantom", scan, "--no-store", "--report", report)
    assert code == 0, err
    actions = load_procedure("daily-phantom-qa").actions
    lines = out.splitlines()
    verdict = lines.index(next(line for line in lines if line.startswith("VERDICT")))
    assert lines[verdict].startswith("VERDICT  WARN: 1 of ") and "could not be run" in lines[verdict]
    action = next(line for line in lines[verdict:] if line.startswith("ACTION"))
    assert action == f"ACTION   {actions.incomplete} Review the warnings too: acquisition_ctdivol_mgy."
    assert "may be used" not in action and "PASS with warnings" not in out
    # messages in words and display units, never field names and raw values (ctdivol_mgy 25.0)
    assert "CTDIvol is 25 mGy, the procedure expects 0.5 to 20 mGy" in out and "tube voltage 120 kV as the procedure expects" in out
    assert "ctdivol_mgy 25" not in out and "kvp 120.0" not in out
    banner = report.read_text()
    banner = banner[banner.index("id='verdict'"):]
    banner = banner[: banner.index("</section>")]
    assert "PASS with warnings" not in banner and "may be used" not in banner and "Review the warnings too" in banner


def test_a_warning_with_every_check_run_keeps_the_warn_action():
    checks = [Check("a", "pass", 1, 1, "ok"), Check("b", "warn", 2, 1, "high")]
    assert summarise_verdict(checks, "warn", ACTIONS).action == "look"
    missing = summarise_verdict(checks + [Check("c", "not_available", None, None, "no baseline")], "warn", ACTIONS)
    assert (missing.level, missing.action) == ("warn", "not all clear Review the warnings too: b.")
    assert run_verdict(checks[:1] + [Check("c", "not_available", None, None, "no baseline")]) == "incomplete"
    assert run_verdict(checks[:1]) == "pass" and run_verdict(checks) == "warn"
