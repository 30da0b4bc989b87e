"""Phantom definitions: the built-in QRM CCI, and clear refusals of malformed files."""

from __future__ import annotations

import pytest

from qa.errors import DefinitionError
from qa.procedures import available_phantoms, load_phantom


def test_builtin_qrm_cci_holds_the_physical_truth():
    phantom = load_phantom("qrm-cci")
    assert "qrm-cci" in available_phantoms()
    by_id = {c.id: c for c in phantom.calcifications}
    assert len(by_id) == 9
    for density in (200, 400, 800):
        for size, volume in ((5, 98.2), (3, 21.2), (1, 0.79)):
            insert = by_id[f"{density}_{size}mm"]
            assert insert.diameter_mm == insert.length_mm == size
            assert insert.physical_volume_mm3 == volume
            assert insert.physical_mass_mg == pytest.approx(density * volume / 1000, abs=0.07)  # table rounding
    assert {r.id for r in phantom.rods} == {"water", "ha200"}
    assert phantom.rod("ha200").density_mgha_cm3 == 200.0
    assert len(phantom.sha256) == 64


def _write(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


BASE = (
    '[phantom]\nid = "x"\nname = "x"\n[insert]\ndiameter_mm = 100.0\nz_min_mm = -45.0\nz_max_mm = 45.0\nhu = 50.0\n'
    '[hu_model]\nwater_equivalent_hu = 20.0\nha_hu_per_mgha_cm3 = { "120" = 1.4 }\n'
    '[[rods]]\nid = "water"\ndensity_mgha_cm3 = 0.0\ndiameter_mm = 20.0\nlength_mm = 20.0\nradius_mm = 0.0\nangle_deg = 0.0\nz_mm = 35.0\n'
)


@pytest.mark.parametrize(
    "calcification, key, message",
    [
        ('id = "a"\ndensity_mgha_cm3 = 800.0\ndiameter_mm = 5.0\nlength_mm = 5.0\nradius_mm = 30.0\nangle_deg = 0.0\n',
         "calcifications[0].z_mm", "is missing"),
        ('id = "a"\ndensity_mgha_cm3 = "lots"\ndiameter_mm = 5.0\nlength_mm = 5.0\nradius_mm = 30.0\nangle_deg = 0.0\nz_mm = 0.0\n',
         "calcifications[0].density_mgha_cm3", "must be a number"),
        ('id = "a"\ndensity_mgha_cm3 = 800.0\ndiameter_mm = -5.0\nlength_mm = 5.0\nradius_mm = 30.0\nangle_deg = 0.0\nz_mm = 0.0\n',
         "calcifications[0].diameter_mm", "must be positive"),
        ('id = "a"\ndensity_mgha_cm3 = 800.0\ndiameter_mm = 5.0\nlength_mm = 5.0\nradius_mm = 30.0\nangle_deg = 0.0\nz_mm = 0.0\nphysical_mass_mg = 50.0\n',
         "calcifications[0].physical_mass_mg", "disagrees"),
    ],
)
def test_malformed_definitions_name_the_file_and_key(tmp_path, calcification, key, message):
    path = _write(tmp_path, BASE + "[[calcifications]]\n" + calcification)
    with pytest.raises(DefinitionError) as info:
        load_phantom(path)
    assert info.value.key == key and message in str(info.value)
    assert str(path) in str(info.value) and info.value.hint


def test_invalid_toml_and_unknown_names_are_refused(tmp_path):
    with pytest.raises(DefinitionError, match="not valid TOML"):
        load_phantom(_write(tmp_path, "[phantom\nid="))
    with pytest.raises(DefinitionError, match="no built-in phantom"):
        load_phantom("acme-phantom")
