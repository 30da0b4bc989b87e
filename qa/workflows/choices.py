"""The choices the command line offers, light to import (``qa --help`` loads no numpy): the scoring
presets and the serial ECG protocols with their defaults."""

from qa.calcium.presets import METHOD_PRESETS
from qa.ecg.serial import EG01010_FS_HZ, EG01010_UV_PER_UNIT, PROTOCOLS

__all__ = ["EG01010_FS_HZ", "EG01010_UV_PER_UNIT", "METHOD_PRESETS", "PROTOCOLS"]
