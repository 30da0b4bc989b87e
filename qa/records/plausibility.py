"""Plausibility ranges: which values are impossible (refused) and which are unusual (flagged).

One table for every reader and check, so that a DLP of -2000 mGy cm, a rescale slope of 1e30 or a
``Rows`` of 65535 is never scored, judged or stored as if it were real.  Each quantity has

* ``limits``: outside them (or not finite) the value cannot come from a working scanner, monitor
  or dose report: the reader refuses the input with the file and field named (``InputError``);
* ``typical``: outside them the value is possible but unusual: it is used, and a warning naming
  the field goes into the document's ``warnings`` (printed in the terminal too).

The sources say where a bound comes from; bounds without a published source are labelled
"our proposal" and are deliberately wide (they catch corrupt or hostile files, not unusual practice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qa.errors import InputError


@dataclass(frozen=True)
class Plausible:
    """The impossible and the unusual for one quantity (units in ``unit``)."""

    quantity: str
    unit: str
    limits: tuple[float, float]  # inclusive; outside (or NaN/inf): refused
    typical: tuple[float, float]  # inclusive; outside: used with a warning
    source: str

    def is_possible(self, value: float) -> bool:
        return _finite(value) and self.limits[0] <= value <= self.limits[1]

    def is_typical(self, value: float) -> bool:
        return _finite(value) and self.typical[0] <= value <= self.typical[1]

    def describe_limits(self) -> str:
        return f"{_fmt(self.limits[0])} to {_fmt(self.limits[1])} {self.unit}".rstrip()

    def describe_typical(self) -> str:
        return f"{_fmt(self.typical[0])} to {_fmt(self.typical[1])} {self.unit}".rstrip()


def _finite(value: float) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def _fmt(x: float) -> str:
    return f"{x:g}"


def _shown(value) -> str:
    """A value as a user reads it: plain numbers (nan, inf, 1e+06), never numpy's repr."""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError, OverflowError):
        return repr(value)


RANGES: dict[str, Plausible] = {
    # CT numbers after rescale.  Limits: what a 16-bit stored value with a unit slope can give
    # (DICOM PS3.3 C.11.1.1.2, Rescale Slope/Intercept); typical: padding (-3024) up to the
    # extended CT scale's top (30710 HU; Klink et al., Eur J Radiol 2008;66:520).
    "hu": Plausible("CT number", "HU", (-32768.0, 65535.0), (-3024.0, 30710.0),
                    "DICOM PS3.3 C.11.1.1.2 (16-bit stored values); extended CT scale, Eur J Radiol 2008;66:520"),
    # Quantities of the site-editable definition files (phantoms/, procedures/): a value outside the
    # limits is refused with the file and key (qa.procedures.models); "typical" is not used there.
    # Sizes of a phantom or a scan: the bore of a clinical CT is 700-800 mm, its table travel < 2 m.
    # (lengths: "length_mm" below, shared with the scan lengths of dose reports and headers)
    "phantom_position_mm": Plausible("position", "mm", (-2000.0, 2000.0), (-700.0, 700.0),
                                     "our proposal: CT bore 700-800 mm, table travel < 2 m"),
    "angle_deg": Plausible("angle", "deg", (-360.0, 360.0), (-360.0, 360.0), "one turn either way"),
    # Hydroxyapatite itself is 3.16 g/cm3 (Ca10(PO4)6(OH)2 crystal density; CRC Handbook): no insert is denser.
    "density_mgha_cm3": Plausible("HA density", "mg/cm3", (0.0, 3160.0), (0.0, 1000.0), "crystal density of hydroxyapatite, 3.16 g/cm3"),
    # CT number per mg HA/cm3: about 0.5-2 HU at 70-140 kV (McCollough et al., Radiology 2007;243:527); limits our proposal.
    "hu_per_mgha_cm3": Plausible("HU per HA density", "HU per mg/cm3", (0.01, 10.0), (0.3, 3.0),
                                 "McCollough et al., Radiology 2007;243:527 (about 0.5-2 HU per mg/cm3); limits our proposal"),
    "percent": Plausible("percentage", "%", (0.0, 100.0), (0.0, 100.0), "a share of a whole"),
    # Times within one heart beat: the longest RR interval of the heart-rate limits (10 bpm) is 6000 ms.
    "beat_time_ms": Plausible("time within a beat", "ms", (0.0, 6000.0), (0.0, 2000.0), "60000 ms / the 10 bpm heart-rate limit"),
    # Tube current-time product per rotation: up to ~1300 mA x 2 s on clinical tubes; limits our proposal.
    "exposure_mas": Plausible("exposure", "mAs", (0.0, 100000.0), (0.0, 3000.0), "vendor tube specifications; limits our proposal"),
    # Rescale slope of a CT image: 1 on every CT scanner we know; our proposal bounds it.
    "rescale_slope": Plausible("Rescale Slope", "", (1e-3, 100.0), (0.1, 10.0), "our proposal (CT uses a unit slope)"),
    # In-plane pixel spacing: a 512 matrix over a 50-500 mm field of view gives 0.1-1.0 mm.
    "pixel_spacing_mm": Plausible("pixel spacing", "mm", (0.01, 10.0), (0.1, 2.0),
                                  "our proposal from clinical CT fields of view 50-500 mm over 256-1024 pixels"),
    # Image matrix (Rows, Columns): CT images are 512 x 512, some 768 or 1024 (DICOM PS3.3 C.8.2.1).
    "matrix_pixels": Plausible("image matrix", "pixels", (1.0, 4096.0), (16.0, 1024.0),
                               "our proposal; CT Image IOD images are typically 512 x 512 (DICOM PS3.3 C.8.2.1)"),
    # Reconstructed slice thickness: calcium scoring uses 2.5-3 mm (SCCT 2021, J Cardiovasc Comput Tomogr 15:192).
    "slice_thickness_mm": Plausible("slice thickness", "mm", (0.05, 50.0), (0.5, 10.0),
                                    "our proposal; calcium scoring uses 2.5-3 mm (SCCT 2021 guideline)"),
    # Tube voltage: clinical CT offers 70-150 kV (e.g. Siemens Force 70-150 kV in 10 kV steps).
    "kvp": Plausible("tube voltage", "kV", (20.0, 200.0), (70.0, 150.0),
                     "vendor specifications of clinical CT tubes (70-150 kV); limits our proposal"),
    # CTDIvol: never negative; above the AAPM Dose Check alert value of 1000 mGy is flagged
    # (AAPM Dose Check Guidelines 2011 / NEMA XR 25).
    "ctdivol_mgy": Plausible("CTDIvol", "mGy", (0.0, 100000.0), (0.0, 1000.0),
                             "AAPM Dose Check Guidelines (2011): CTDIvol alert value 1000 mGy"),
    # DLP: never negative; typical top is our proposal: the CTDIvol alert value over 20 cm.
    "dlp_mgycm": Plausible("DLP", "mGy cm", (0.0, 1.0e7), (0.0, 20000.0),
                           "our proposal: the AAPM CTDIvol alert value (1000 mGy) over a 20 cm scan"),
    # Effective dose of one CT study: never negative; above 100 mSv is flagged (our proposal).
    "dose_msv": Plausible("effective dose", "mSv", (0.0, 1.0e5), (0.0, 100.0), "our proposal"),
    # Heart rate: adults at rest 40-100 bpm; 30-200 covers bradycardia to tachycardia during CT;
    # limits cover the extremes reported in humans (our proposal).
    "heart_rate_bpm": Plausible("heart rate", "bpm", (10.0, 350.0), (30.0, 200.0),
                                "our proposal; physiological extremes of the human heart rate"),
    # Surface ECG amplitude: the IEC 60601-2-25 input range is +/- 5 mV; QRS rarely exceeds 5 mV.
    "ecg_mv": Plausible("ECG amplitude", "mV", (-50.0, 50.0), (-10.0, 10.0),
                        "IEC 60601-2-25 (ECG input dynamic range +/- 5 mV); limits our proposal"),
    # ECG sampling rate: below 50 Hz no R-peak can be timed; clinical monitors sample 250-1000 Hz.
    "ecg_sampling_rate_hz": Plausible("ECG sampling rate", "Hz", (50.0, 100000.0), (100.0, 10000.0),
                                      "AHA recommendations (Circulation 2007;115:1306): >= 500 Hz diagnostic; 50 Hz our floor"),
    # Times and durations in seconds (exposure start/duration, trace offsets): never negative.
    "duration_s": Plausible("duration", "s", (0.0, 86400.0 * 7), (0.0, 86400.0), "our proposal"),
    # A time on a trace's time base (an exposure's start): from its start, never negative; same bounds as durations.
    "time_s": Plausible("time", "s", (0.0, 86400.0 * 7), (0.0, 86400.0), "our proposal (as durations)"),
    # Slice increment (distance between slice centres): calcium scoring reconstructs at 1.5-3 mm.
    "slice_increment_mm": Plausible("slice increment", "mm", (0.01, 50.0), (0.25, 10.0),
                                    "our proposal; calcium scoring uses 1.5-3 mm increments (SCCT 2021 guideline)"),
    # Patient coordinates (ImagePositionPatient): a table position is within about 2 m of the
    # origin; 100 m is our bound for "a coordinate at all" (it keeps every sum finite).
    "position_mm": Plausible("patient coordinate", "mm", (-1.0e5, 1.0e5), (-3000.0, 3000.0), "our proposal"),
    # Voxels of one decoded series (float32): at most 2**29 = 2 GiB (our proposal: 2048 slices of
    # 512 x 512, ten times a whole-heart calcium score; analyses make a few copies of it).
    "volume_voxels": Plausible("decoded volume", "voxels", (1.0, float(2**29)), (1.0, float(2**27)),
                               "our proposal (2 GiB of float32)"),
    # Images of one series: a 2 m scan at a 0.1 mm increment holds 20000 (our bound); whole-body
    # thin-slice series hold a few thousand (our proposal).
    "series_images": Plausible("images in a series", "images", (1.0, 20000.0), (1.0, 4000.0),
                               "our proposal (a 2 m scan at 0.1 mm increments)"),
    # Lengths of a scan (scanning length, collimation, reconstruction field): never negative;
    # a clinical CT table travels at most about 2 m (our proposal).
    "length_mm": Plausible("length", "mm", (0.0, 5000.0), (0.0, 2000.0), "our proposal (CT table travel about 2 m)"),
    # Tube current: clinical tubes deliver up to about 1300 mA (vendor specifications); never negative.
    "tube_current_ma": Plausible("tube current", "mA", (0.0, 10000.0), (0.0, 1300.0),
                                 "vendor specifications of clinical CT tubes (up to about 1300 mA); limits our proposal"),
    # Helical pitch factor: IEC 60601-2-44 definition; clinical values 0.1-3.4 (Siemens Flash 3.4).
    "pitch": Plausible("pitch factor", "", (0.0, 10.0), (0.0, 3.5), "IEC 60601-2-44 definition; clinical 0.1-3.4 (vendor specifications)"),
    # k-factors (effective dose per DLP) of ICRP 103 tables are 0.001-0.03 mSv/(mGy cm) for adults.
    "k_msv_per_mgycm": Plausible("k-factor", "mSv/(mGy cm)", (1e-6, 1.0), (1e-3, 0.05),
                                 "Deak et al., Radiology 2010;257:158 (ICRP 103 k-factors 0.001-0.03); limits our proposal"),
    # Cardiac trigger phase: a percentage of the R-R interval (DICOM PS3.3 C.7.6.18.1 Nominal Percentage of Cardiac Phase).
    "phase_pct": Plausible("cardiac phase", "% RR", (0.0, 100.0), (0.0, 100.0), "DICOM PS3.3 C.7.6.18.1 (0-100 % of R-R)"),
    # Trigger delay from the R peak: a beat lasts at most 6 s (10 bpm, the heart-rate limit); Siemens
    # write a negative delay for "ms before the next R peak" (ImageComments '-250 ms').
    "trigger_delay_ms": Plausible("trigger delay", "ms", (-6000.0, 6000.0), (-2000.0, 2000.0),
                                  "our proposal (one R-R interval at >= 10 bpm)"),
    # Calcium threshold: above water (0 HU) so that every kept voxel adds a positive mass; published
    # thresholds are 90-130 HU at 120 kVp (Agatston 1990: 130 HU) and up to about 200 HU kV-adapted.
    "threshold_hu": Plausible("calcium threshold", "HU", (1.0, 3000.0), (90.0, 250.0),
                              "Agatston 1990 (JACC 15:827): 130 HU; above 0 HU (water) our proposal"),
    # Minimum lesion area: 0 (none) to 1 mm2 in the vendors' modes (van Praagh, Med Phys 2021); larger
    # than a 10 mm disk would leave out every coronary calcification (our proposal).
    "min_area_mm2": Plausible("minimum lesion area", "mm2", (0.0, 80.0), (0.0, 5.0),
                              "van Praagh et al., Med Phys 2021 (0-1 mm2 in vendor modes); limit our proposal"),
    # HA calibration factor c_HA: 0.5-1.0 mg/(cm3 HU) from 70 to 140 kVp (McCollough 2007, Radiology 243:527).
    # Breath-hold motion limits of a protocol's [motion] table (qa.motion): a shift as a multiple of the
    # slice thickness, and a robust z-score.  No published threshold exists: our proposal.
    "thickness_fraction": Plausible("shift limit", "x slice thickness", (0.01, 20.0), (0.1, 3.0), "our proposal"),
    "robust_z": Plausible("robust z-score", "", (0.1, 1000.0), (1.0, 20.0), "our proposal"),
    "c_ha_mg_per_cm3_hu": Plausible("HA calibration factor", "mg/(cm3 HU)", (0.05, 5.0), (0.4, 1.2),
                                    "McCollough et al., Radiology 2007;243:527 (about 0.7-0.9 at 120 kVp); limits our proposal"),
}


class ImpossibleValue(InputError):
    """An input value that no working scanner, monitor or dose report can give (exit 2).

    A subclass so that readers which skip "not my kind of file" errors still refuse these; to
    users and scripts it is an ``InputError`` (the ``qa.error/1`` type)."""

    def to_dict(self) -> dict:
        return {**super().to_dict(), "type": "InputError"}


def plausible(quantity: str) -> Plausible:
    """The plausibility record of ``quantity`` (a key of :data:`RANGES`)."""
    return RANGES[quantity]


def require_possible(quantity: str, value: float, *, path: str | None, field: str) -> float:
    """``value`` as a float, or ``InputError(path, field)`` when it is impossible (or not finite)."""
    p = RANGES[quantity]
    if not p.is_possible(value):
        raise ImpossibleValue(
            path, field,
            f"{p.quantity} {_shown(value)} is impossible (must be a finite value from {p.describe_limits()})",
            hint=f"the file is corrupt or was edited; check {field} at its source ({p.source})",
        )
    return float(value)


def is_possible(quantity: str, value: float) -> bool:
    """Whether ``value`` is a finite value within the limits of ``quantity``."""
    return RANGES[quantity].is_possible(value)


def unusual(quantity: str, value: float, *, field: str, where: str | None = None) -> str | None:
    """A warning text when ``value`` is possible but outside the typical range, else ``None``."""
    p = RANGES[quantity]
    if p.is_typical(value):
        return None
    place = f"{where}: " if where else ""
    return f"{place}{field} = {value:g} {p.unit} is outside the usual {p.describe_typical()} ({p.source}); check it".replace("  ", " ")


def markdown_table() -> str:
    """The table of :data:`RANGES` as Markdown (SECURITY.md carries it; a test keeps them equal)."""
    rows = ["| quantity | key | refused outside | flagged outside | source |", "|---|---|---|---|---|"]
    for key, p in RANGES.items():
        rows.append(f"| {p.quantity} | `{key}` | {p.describe_limits()} | {p.describe_typical()} | {p.source} |")
    return "\n".join(rows) + "\n"
