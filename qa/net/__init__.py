"""The DICOM receiver (``qa serve``): a Storage SCP with an allow-list, writing into the inbox of
:mod:`qa.workflows.inbox` and routed by :mod:`qa.workflows.route`.

``pdu`` (the upper layer PDUs and DIMSE command sets, bytes in, values out), ``association`` (one
association's state machine, and the accepting server), ``config`` (settings from options and a
TOML file), ``scp`` (what is accepted, from whom, TLS),
``receive`` (the C-STORE handler), ``server`` (start, run beside the router, stop cleanly),
``workers`` (several receiver processes on the one port).  The
only layer above it is the command line; it imports the workflows, never the reverse.
"""

from __future__ import annotations

__all__ = ["load_config", "serve"]


def __getattr__(name: str):
    if name == "load_config":
        from qa.net.config import load_config

        return load_config
    if name == "serve":
        from qa.net.server import serve

        return serve
    raise AttributeError(f"module 'qa.net' has no attribute {name!r}")
