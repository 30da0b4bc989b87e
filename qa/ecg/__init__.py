"""ECG traces and gating: reading and capturing traces, R-peaks, rhythm, prospective gating timing."""
