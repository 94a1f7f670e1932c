"""Renderers of the explainer's objects.

:mod:`.text` renders to terminal text (always available). Figures (PNG/SVG/GIF) live in
``convtranspose.render.figures`` and need the ``explain`` extra (matplotlib, pillow); it is imported
only when a figure is requested.
"""

from .text import format_grid, format_number, render_shape, render_solve, render_text

__all__ = ["render_text", "render_shape", "render_solve", "format_grid", "format_number"]
