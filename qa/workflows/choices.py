"""The choices the command line offers, light to import (``qa --help`` loads no numpy): the scoring
presets and the serial ECG protocols with their defaults.  The serial ones are loaded on first use
(PEP 562): ``qa score`` and ``qa phantom`` need the presets only, not the serial capture code."""

from typing import TYPE_CHECKING, Any

from qa.calcium.presets import METHOD_PRESETS

if TYPE_CHECKING:
    from qa.ecg.serial import EG01010_FS_HZ, EG01010_UV_PER_UNIT, PROTOCOLS

__all__ = ["EG01010_FS_HZ", "EG01010_UV_PER_UNIT", "METHOD_PRESETS", "PROTOCOLS"]


def __getattr__(name: str) -> Any:
    if name in ("EG01010_FS_HZ", "EG01010_UV_PER_UNIT", "PROTOCOLS"):
        from qa.ecg import serial

        return getattr(serial, name)
    raise AttributeError(f"module 'qa.workflows.choices' has no attribute {name!r}")
