"""Hostile and broken input (issue 11): one module per class of fault, built from generated inputs.

Each module shows a behaviour, not a patched bug: impossible values never pass, nothing is
silently left out, scanners are told apart, files are written safely, names are not paths,
resources are bounded, the terminal is safe, every site-editable file is validated, database
problems are input problems, ECG files are read as people have them, and ``--json`` always
prints one JSON object.
"""
