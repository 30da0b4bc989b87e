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


RANGES: dict[str, Plausible] = {
    # CT numbers after rescale.  Limits: what a 16-bit stored value with a unit slope can give
    # (DICOM PS3.3 C.11.1.1.2, Rescale Slope/Intercept); typical: padding (-3024) up to the
    # extended CT scale's top (30710 HU; Klink et al., Eur J Radiol 2008;66:520).
    "hu": Plausible("CT number", "HU", (-32768.0, 65535.0), (-3024.0, 30710.0),
                    "DICOM PS3.3 C.11.1.1.2 (16-bit stored values); extended CT scale, Eur J Radiol 2008;66:520"),
    # Quantities of the site-editable definition files (phantoms/, procedures/): a value outside the
    # limits is refused with the file and key (qa.procedures.models); "typical" is not used there.
    # Sizes of a phantom or a scan: the bore of a clinical CT is 700-800 mm, its table travel < 2 m.
    "length_mm": Plausible("length", "mm", (0.0, 2000.0), (0.0, 700.0), "our proposal: CT bore 700-800 mm, table travel < 2 m"),
    "position_mm": Plausible("position", "mm", (-2000.0, 2000.0), (-700.0, 700.0), "our proposal: CT bore and table travel"),
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
    "matrix_pixels": Plausible("image matrix", "pixels", (16.0, 4096.0), (256.0, 1024.0),
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
}


def plausible(quantity: str) -> Plausible:
    """The plausibility record of ``quantity`` (a key of :data:`RANGES`)."""
    return RANGES[quantity]


def require_possible(quantity: str, value: float, *, path: str | None, field: str) -> float:
    """``value`` as a float, or ``InputError(path, field)`` when it is impossible (or not finite)."""
    p = RANGES[quantity]
    if not p.is_possible(value):
        raise InputError(
            path, field,
            f"{p.quantity} {value!r} is impossible (must be a finite value from {p.describe_limits()})",
            hint=f"the file is corrupt or was edited; check {field} at its source ({p.source})",
        )
    return float(value)


def unusual(quantity: str, value: float, *, field: str, where: str | None = None) -> str | None:
    """A warning text when ``value`` is possible but outside the typical range, else ``None``."""
    p = RANGES[quantity]
    if p.is_typical(value):
        return None
    place = f"{where}: " if where else ""
    return f"{place}{field} = {value:g} {p.unit} is outside the usual {p.describe_typical()} ({p.source}); check it".replace("  ", " ")
