"""What qa's figures share: the palette; for those built with matplotlib (the ECG strip, qa motion's
reformats), its object API (no pyplot) on an Agg canvas, and PNG bytes.  The report's located
phantom and control charts are drawn without matplotlib (:mod:`qa.report.raster`).

Every text in a figure is drawn as written: names from DICOM headers, file names and site
definitions may hold ``$...$``, which matplotlib would otherwise typeset as mathematics (or fail
on); each figure is built with ``text.parse_math`` off (:func:`plain_text`).

``matplotlib.pyplot`` is never imported here: it costs a third of a second and a global figure
registry, and a report needs neither (a :class:`matplotlib.figure.Figure` on an Agg canvas).
"""

from __future__ import annotations

import functools
import io
import sys

# Okabe & Ito (2008), "Color Universal Design": a palette told apart with every common colour-vision
# deficiency; what also has to survive greyscale printing is told apart by line style or marker shape.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
# Resolution of the matplotlib figures when not given: 100 dots per inch (ours).
DPI = 100


def plain_text(build):
    """Build the figure with mathtext off: ``$x$`` in a station or file name stays ``$x$``."""

    @functools.wraps(build)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return build(*args, **kwargs)

    return wrapper


def new_figure(width_in: float, height_in: float, *, dpi: float = DPI):
    """A figure on an Agg canvas (no pyplot, no GUI, nothing global)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig, *, dpi: float | None = None, tight: bool = False) -> bytes:
    """The figure as PNG bytes.  ``tight`` crops to the drawn content (which draws the figure twice:
    the figures laid out by hand leave it off)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or fig.dpi, **({"bbox_inches": "tight"} if tight else {}))
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # a figure made through pyplot (an older caller) is released from its registry
        pyplot.close(fig)
    return buffer.getvalue()
