"""The cache of validated definition records (qa.procedures.cache): the same record as a fresh
validation, pydantic not imported on a hit, a changed file (or the phantom a procedure names) never
served from the cache, failures never cached, and an entry that cannot be trusted never read."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa.procedures import cache

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("QA_DEFINITION_CACHE", raising=False)
    return tmp_path / "cache" / "qa" / "definitions"


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pickle")) if folder.is_dir() else []


def test_a_cached_record_equals_a_fresh_validation_for_every_builtin_definition(cache_home, monkeypatch):
    from qa.procedures import loader

    loaders = [(loader.load_phantom, loader.available_phantoms()), (loader.load_procedure, loader.available_procedures()),
               (loader.load_protocol, loader.available_protocols()), (loader.load_dose_tables, ["dose-reference"])]
    for load, ids in loaders:
        for name in ids:
            first = load(name)  # validated, then cached
            second = load(name)  # from the cache
            monkeypatch.setenv("QA_DEFINITION_CACHE", "off")
            fresh = load(name)
            monkeypatch.delenv("QA_DEFINITION_CACHE")
            assert first == second == fresh and type(second) is type(fresh), name
    assert len(_entries(cache_home)) >= 4


def test_a_hit_imports_no_pydantic(cache_home, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home.parents[1])}
    code = ("import sys; from qa.procedures import load_protocol; p = load_protocol('cac-standard'); "
            "print('pydantic' in sys.modules, p.id)")
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert first.stdout.split()[0] == "True" and second.stdout.split() == ["False", first.stdout.split()[1]]


def test_a_changed_file_and_a_changed_phantom_are_validated_again(cache_home, tmp_path):
    from qa.procedures.builtin import builtin_dir
    from qa.procedures.loader import load_procedure, load_protocol

    protocol = tmp_path / "site-protocol.toml"
    shutil.copy(builtin_dir("procedures") / "cac-standard.toml", protocol)
    before = load_protocol(protocol)
    protocol.write_text(protocol.read_text(encoding="utf-8").replace(before.name, "Site CAC protocol", 1), encoding="utf-8")
    after = load_protocol(protocol)
    assert after.name == "Site CAC protocol" and after.sha256 != before.sha256

    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(builtin_dir("phantoms") / "qrm-cci.toml", site / "my-phantom.toml")
    text = (builtin_dir("procedures") / "daily-phantom-qa.toml").read_text(encoding="utf-8")
    (site / "procedure.toml").write_text(text.replace('phantom = "qrm-cci"', 'phantom = "my-phantom.toml"'), encoding="utf-8")
    assert 'phantom = "my-phantom.toml"' in (site / "procedure.toml").read_text(encoding="utf-8")
    first = load_procedure(site / "procedure.toml")
    assert load_procedure(site / "procedure.toml") == first  # served from the cache: nothing new written
    n_before = len(_entries(cache_home))
    # the phantom beside it changes (not the procedure): the record must follow the phantom
    phantom_text = (site / "my-phantom.toml").read_text(encoding="utf-8")
    (site / "my-phantom.toml").write_text(phantom_text + "\n# edited\n", encoding="utf-8")
    from qa.procedures.loader import load_phantom

    again = load_procedure(site / "procedure.toml")
    assert len(_entries(cache_home)) > n_before  # validated again (against the edited phantom), not served from the cache
    assert first.phantom_path == again.phantom_path
    assert load_phantom(site / "my-phantom.toml").sha256 != load_phantom(builtin_dir("phantoms") / "qrm-cci.toml").sha256

def test_old_entries_are_pruned(cache_home, monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    for n in range(6):
        cache.cached_record(f"{n:064x}", lambda: cache_home)  # any dataclass-free value is still written
    assert len(_entries(cache_home)) == 3


def test_failures_are_never_cached(cache_home, tmp_path):
    from qa.errors import DefinitionError
    from qa.procedures.loader import load_protocol

    bad = tmp_path / "bad.toml"
    bad.write_text("[protocol]\nid = 3\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(DefinitionError):
            load_protocol(bad)
    assert _entries(cache_home) == []


def test_an_entry_others_can_write_or_that_is_garbage_is_not_used(cache_home):
    from qa.procedures.loader import load_protocol

    record = load_protocol("cac-standard")
    (entry,) = _entries(cache_home)
    entry.write_bytes(pickle.dumps((entry.stem, "not a record")))
    assert load_protocol("cac-standard") == record  # wrong type: rebuilt
    entry.write_bytes(b"garbage")
    assert load_protocol("cac-standard") == record  # unreadable: rebuilt
    forged = pickle.dumps((entry.stem, _renamed(record)))
    entry.write_bytes(forged)
    assert load_protocol("cac-standard").name == "forged"  # (the check below is meaningful: a private entry is used)
    entry.write_bytes(forged)
    os.chmod(entry, 0o666)  # writable by others: never read
    assert load_protocol("cac-standard").name == record.name
    os.chmod(entry, 0o600)
    os.chmod(cache_home, 0o777)  # a folder others can write into: never read
    assert load_protocol("cac-standard").name == record.name
    os.chmod(cache_home, 0o700)


def _renamed(record):
    import dataclasses

    return dataclasses.replace(record, name="forged")


def test_the_fingerprint_covers_every_module():
    cache._code_fingerprint.cache_clear()
    first = cache._code_fingerprint()
    cache._code_fingerprint.cache_clear()
    module = ROOT / "qa" / "procedures" / "cache.py"
    st = module.stat()
    os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    try:
        assert cache._code_fingerprint() != first
    finally:
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns))
        cache._code_fingerprint.cache_clear()


def test_the_sha256_without_openssl_is_sha256():
    """Definition digests and cache keys use CPython's own SHA-256 when present: the same digests."""
    import hashlib

    from qa.procedures.sha256 import sha256

    for data in (b"", b"abc", bytes(range(256)) * 300, "[rules.kvp]\nexpected = 120\n".encode()):
        assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
        d = sha256(data[:7])
        d.update(data[7:])
        assert d.digest() == hashlib.sha256(data).digest()


def test_a_folder_of_the_package_that_cannot_be_listed_is_left_out_as_os_walk_leaves_it(tmp_path, monkeypatch):
    """The code fingerprint walks the qa package; a folder it may not list is skipped, never an error."""
    import os

    import qa
    from qa.procedures import cache

    real_scandir = os.scandir
    locked = os.path.join(os.path.dirname(qa.__file__), "ecg")

    def scandir(path):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    cache._code_fingerprint.cache_clear()
    try:
        whole = cache._code_fingerprint()
        cache._code_fingerprint.cache_clear()
        monkeypatch.setattr(cache.os, "scandir", scandir)
        without = cache._code_fingerprint()
        assert without != whole  # a fingerprint all the same, of what could be read
    finally:
        monkeypatch.undo()
        cache._code_fingerprint.cache_clear()
