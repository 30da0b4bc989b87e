"""``qa serve`` against hostile senders and a hostile disk: a SOP Instance UID made to be a path is
refused and nothing is written outside the inbox; an inbox that cannot be written (a full disk, a
folder gone) answers a failure status, never success; a broken configuration is refused naming the
file and the setting."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "net"))
from serving import QA, Server, environment, pynetdicom_store  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slices(tmp_path_factory):
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    folder = tmp_path_factory.mktemp("hostile-serve") / "series"
    synthesize_phantom(folder, SynthOptions(pixel_mm=1.95, matrix=256, z_start_mm=-3.0, z_end_mm=3.0, seed=1))
    return sorted(folder.glob("*.dcm"))


@pytest.mark.parametrize("uid", ["../../x", "1.2/3", "1.2.3/../../../x", "1..2", "1.2.a", "1.2.3\x00/x"])
def test_a_sop_instance_uid_that_is_not_a_uid_is_refused_and_nothing_is_written_outside_the_inbox(tmp_path, slices, uid):
    import pydicom
    from pydicom import config

    root = tmp_path / "site"
    with Server(root) as s:
        before = sorted(p for p in tmp_path.rglob("*") if not p.name.startswith("serve-"))
        ds = pydicom.dcmread(slices[0])
        previous = config.settings.writing_validation_mode
        config.settings.writing_validation_mode = config.WARN  # the sender writes what it likes
        try:
            ds.SOPInstanceUID = uid
            ds.file_meta.MediaStorageSOPInstanceUID = uid
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                accepted, statuses = pynetdicom_store(s.port, [ds])
        finally:
            config.settings.writing_validation_mode = previous
        assert accepted and len(statuses) == 1 and statuses[0] != 0 and 0xC000 <= statuses[0] <= 0xCFFF
        s.wait_for("answered 0xC000")
        after = sorted(p for p in tmp_path.rglob("*") if not p.name.startswith("serve-"))
        assert after == before  # nothing written anywhere: not in the inbox, not beside it
        assert not [line for line in s.log.splitlines() if "qa serve:" in line and uid in line]  # (pydicom's own warning may quote it)


def _limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_answers_out_of_resources_and_leaves_nothing_half_written(tmp_path):
    """RLIMIT_FSIZE stands for a full disk (it holds for root too): 512 x 512 images (512 kB) cannot be
    written under a 300 kB limit.  The store and journal are made by a first start without the limit."""
    from qa.workflows.synth import SynthOptions, synthesize_phantom

    big = tmp_path / "big"
    synthesize_phantom(big, SynthOptions(matrix=512, z_start_mm=-1.5, z_end_mm=1.5, seed=2))
    images = sorted(big.glob("*.dcm"))
    root = tmp_path / "full"
    Server(root).stop()
    with Server(root, preexec_fn=_limit_file_size(300_000)) as s:
        accepted, statuses = pynetdicom_store(s.port, images)
        assert accepted and statuses == [0xA700] * len(images)
        log = s.wait_for("answered 0xA700")
        assert "could not be written to the inbox" in log
        assert [p.name for p in s.inbox.iterdir() if p.is_file() and not p.name.startswith(".qa-journal")] == []
        assert s.status()["objects"] == 0


def test_an_inbox_that_is_gone_answers_a_failure_status_and_the_receiver_keeps_running(tmp_path, slices):
    with Server(tmp_path / "gone") as s:
        moved = s.inbox.with_name("inbox-moved")
        s.inbox.rename(moved)
        s.inbox.write_text("not a folder")  # the inbox's name is now a file: nothing can be written into it
        accepted, statuses = pynetdicom_store(s.port, slices[:1])
        assert accepted and statuses == [0xA700]
        s.inbox.unlink()
        moved.rename(s.inbox)
        accepted, statuses = pynetdicom_store(s.port, slices[:1])
        assert accepted and statuses == [0]


@pytest.mark.parametrize(("toml", "field"), [
    ('aet = "QA"\nallow = []\n', "allow"),
    ('allow = ["CT1"]\nport = 70000\n', "port"),
    ('allow = ["CT1"]\naet = "A-TITLE-FAR-TOO-LONG"\n', "aet"),
    ('allow = ["BAD\\\\AET"]\n', "allow"),
    ('allow = ["CT1@"]\n', "allow"),
    ('allow = ["CT1"]\nsettle_seconds = -1\n', "settle_seconds"),
    ('allow = ["CT1"]\nkeep_days = -3\n', "keep_days"),
    ('allow = ["CT1"]\nkeep_days = "30"\n', "keep_days"),
    ('allow = ["CT1"]\nmax_pdu = 1000\n', "max_pdu"),
    ('allow = ["CT1"]\n[[route]]\nworkflow = "phantom"\n', "route[1]"),
    ('allow = ["CT1"]\n[[route]]\ncalling_aet = "CT1"\nworkflow = "phantom"\n[[route]]\ncalling_aet = "CT2"\nworkflow = "delete"\n',
     "route[2].workflow"),
    ('allow = ["CT1"]\n[[route]]\npatient_id = 7\nworkflow = "keep"\n', "route[1].patient_id"),
    ('allow = ["CT1"]\nroute = "phantom"\n', "route"),
    ('allow = ["CT1"]\ntls_cert = "/nonexistent.crt"\ntls_key = "/nonexistent.key"\n', "tls_cert"),
    ('allow = ["CT1"]\ntls_cert = "/etc/hostname"\n', "tls_key"),
    ('allow = ["CT1"]\nlisten = "0.0.0.0"\n', "listen"),
    ('allow = "CT1"\n', "allow"),
    ("allow = [\n", None),
])
def test_a_broken_configuration_is_refused_naming_the_file_and_the_setting(tmp_path, toml, field):
    config = tmp_path / "serve.toml"
    config.write_text(toml, encoding="utf-8")
    out = subprocess.run([QA, "serve", "--config", str(config), "--inbox", str(tmp_path / "inbox")], capture_output=True,
                         text=True, env=environment(tmp_path), timeout=60)
    named = "/nonexistent.crt" if field == "tls_cert" else str(config)  # a missing file is named itself
    assert out.returncode == 2 and named in out.stderr and (field is None or field in out.stderr)
    assert not (tmp_path / "inbox").exists()
    from qa.errors import InputError
    from qa.net.config import load_config

    with pytest.raises(InputError) as caught:
        load_config({"inbox": str(tmp_path / "inbox")}, config)
    assert caught.value.path == named and caught.value.field == field


def test_without_an_allow_list_the_receiver_refuses_to_start(tmp_path):
    out = subprocess.run([QA, "serve", "--inbox", str(tmp_path / "inbox"), "--port", "11112"], capture_output=True, text=True,
                         env=environment(tmp_path), timeout=60)
    assert out.returncode == 2 and "no sender is allowed" in out.stderr and "--allow" in out.stderr
    assert not (tmp_path / "inbox").exists()


@pytest.mark.parametrize(("text", "ok"), [("1.2.840.10008.5.1.4.1.1.2", True), ("1", True), ("1." + "2" * 62, True),
                                          ("1." + "2" * 63, False), ("", False), ("../x", False), ("1.2/3", False), ("1..2", False),
                                          (".1", False), ("1.", False), ("1.2\n", False), ("１.２", False)])
def test_only_a_well_formed_uid_of_at_most_64_characters_names_a_file(text, ok):
    from qa.workflows.inbox import Inbox

    assert (Inbox.file_name(text) == f"{text}.dcm") is ok
