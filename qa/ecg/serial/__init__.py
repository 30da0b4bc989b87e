"""Live ECG capture from a serial port (pyserial), and the pure protocol decoders behind it.

Protocols (DESIGN.md):

* ``ascii``: one sample per line, ``t_ms,ecg_uv[,trigger]`` (``\\n``, ``\\r\\n`` or ``\\r``).  The
  device's ``t_ms`` is the time base: host-side jitter never moves a sample.
* ``eg01010``: the Medlab EG01010 three-lead ECG board, serial protocol 1 (9600 8N1).  Bytes
  0-246 are wave samples around the baseline 128; a byte above 246 is a marker: ``0xF8`` wave
  samples follow, ``0xF9`` a respiration rate byte follows, ``0xFA`` a pulse rate byte follows
  (sent when the board detects an R-wave: it becomes ``trigger=1`` on the next sample), ``0xFB``
  an info byte follows (``0x11`` = lead off; others are reported as they come).  The bytes carry
  neither time nor scale, so both are configuration:

  - sampling rate: the board sends 300, 100 or 50 samples/s as last commanded (``S0``/``S1``/
    ``S2``); ``fs_hz`` (default 300, the board's maximum) must match it.  Sample ``k`` of a
    contiguous run is at ``t0 + k / fs_hz``.  The capture reports the rate it really received,
    so a wrong ``fs_hz`` shows at once.
  - amplitude: ``(byte - 128) * uv_per_unit``.  The manual states the scale in display terms and
    per amplification stage (``A0``-``A2``); we have no verified uV-per-step figure.  The default
    ``EG01010_UV_PER_UNIT`` (20 uV, full scale about +-2.4 mV) is a placeholder: calibrate with
    the board's ``C`` command (a 1 mV pulse): ``uv_per_unit = 1000 / pulse height in steps``.

Time: ``time_s`` 0 is the first sample received (``start_time`` in the CSV is the host's wall
clock then).  Within a connection the time comes from the device (``t_ms``) or the sample counter
(EG01010), never from the host clock.  The host clock only measures what the device cannot tell:
how long the port was away, or (EG01010) how long the board fell silent (over ``stall_s``; a
shorter silence is not seen).  Those become gaps (a jump in ``time_s``); nothing is ever written
for them.  EG01010 sample bytes skipped while the decoder is out of step count as lost samples:
a gap of exactly their duration.  Samples the EG01010 sends while it reports lead off are not
written either (a gap, listed in ``lead_off_s``) unless ``keep_lead_off``; lead off ends at the
next pulse marker or ``LEAD_OFF_HOLD_S`` after the last lead-off message.  An ascii sample whose
``t_ms`` goes back, repeats, or leaps ahead of the host clock by over ``ASCII_MAX_LEAD_S`` is not
written (``rejected_samples``); ``RESYNC_RUN`` consistent ones in a row are a new device time base
(the device restarted): they are written after a gap measured by the host clock.  The first
ascii line after (re)opening the port is dropped: it is most likely cut.

Reference: Medlab EG01010 Technical Manual v1.06, "Serial Transmission Protocol 1".
"""

from __future__ import annotations

from qa.ecg.serial.capture import capture, open_port
from qa.ecg.serial.decoders import (
    DEFAULT_BAUD, EG01010_FS_HZ, EG01010_UV_PER_UNIT, PROTOCOLS, AsciiDecoder, Eg01010Decoder, Event, Sample, make_decoder,
)
from qa.ecg.serial.records import CaptureResult, CaptureStatus

__all__ = [
    "DEFAULT_BAUD", "EG01010_FS_HZ", "EG01010_UV_PER_UNIT", "PROTOCOLS", "AsciiDecoder", "CaptureResult", "CaptureStatus",
    "Eg01010Decoder", "Event", "Sample", "capture", "make_decoder", "open_port",
]
