"""Pseudonyms: stable per site, different between sites, secret kept private."""

from __future__ import annotations

import os
import stat

import pytest

from qa.errors import UsageError
from qa.privacy import pseudonym, secret_path, site_secret


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
