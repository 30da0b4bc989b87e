"""Pseudonyms: stable per site, different between sites, secret kept private."""

from __future__ import annotations

import os
import stat

import pytest

from qa.errors import UsageError
from qa.privacy import secret_path, site_pseudonymiser, site_secret


def pseudonym(value):
    return site_pseudonymiser()(value)


def test_pseudonyms_are_stable_keyed_and_not_the_identifier(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_SECRET_FILE", str(tmp_path / "a" / "secret"))
    first = pseudonym("PATIENT-123")
    assert first == pseudonym("PATIENT-123") and first != pseudonym("PATIENT-124")
    assert "PATIENT-123" not in first and first.startswith("p-")
    assert stat.S_IMODE(os.stat(secret_path()).st_mode) == 0o600
    monkeypatch.setenv("QA_SECRET_FILE", str(tmp_path / "b" / "secret"))
    assert pseudonym("PATIENT-123") != first  # another site, another pseudonym
    assert pseudonym(None) is None and pseudonym("  ") is None


def test_a_secret_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "secret"
    site_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(UsageError, match="readable by others"):
        site_secret(path)


def test_serialising_a_result_never_touches_the_secret(tmp_path, monkeypatch):
    """Pseudonyms are made when the exam is read; turning the result into JSON reads no secret."""
    import json
    from pathlib import Path

    from qa.workflows.exam import check_exam_files
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    synthesize_phantom(tmp_path / "exam", SynthOptions(vendor="siemens", matrix=128, pixel_mm=1.6, z_start_mm=-12.0,
                                                       z_end_mm=30.0, series_description="CaScore 3.0 Qr36", seed=2))
    run = check_exam_files([tmp_path / "exam"])
    secret = Path(os.environ["QA_SECRET_FILE"])
    assert secret.exists() and run.checklist.exam.study_key.startswith("p-")  # made (and used) while reading
    secret.unlink()
    monkeypatch.setenv("QA_SECRET_FILE", str(tmp_path / "nowhere" / "site-secret"))
    document = json.dumps(run.to_dict())
    assert run.checklist.exam.study_key in document
    assert not secret.exists() and not (tmp_path / "nowhere").exists()
