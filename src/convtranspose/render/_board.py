"""A small layout engine for grid figures: panels of numbered cells on one matplotlib Axes.

Every figure of :mod:`convtranspose.render.figures` is a *board*: a header (wrapped title lines),
rows of :class:`Panel` (a grid of cells with a title, index labels and a caption) and
:class:`Symbol` (an operator such as ``×`` or ``→`` between panels), and a legend. All panels share
one cell size, so the same number is drawn the same size everywhere, and the board is drawn on a
single Axes whose data units are typographic points (y pointing down), which keeps text sizes and
cell sizes in one unit system.

Animated figures draw several boards with the *same* layout: :func:`fit_layout` takes every frame
and sizes each slot for the largest content any frame puts there, so frames never jump.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union, cast

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.collections import PatchCollection
from matplotlib.patches import Rectangle

from ._style import COLORS, fmt_number

__all__ = ["Outline", "Panel", "Symbol", "LegendEntry", "Board", "Layout", "fit_layout", "draw_board", "TextStyle"]

# Text sizes in points (cell numbers scale with the cell instead).
TITLE_SIZE = 11.0
CAPTION_SIZE = 9.0
HEADER_SIZE = 12.5
SUBHEADER_SIZE = 10.0
LEGEND_SIZE = 9.0
INDEX_SIZE = 7.0

MARGIN = 14.0  # around the board
GAP = 16.0  # between items of a row
ROW_GAP = 14.0  # between rows
LINE = 1.3  # line height factor
MIN_CELL = 16.0
MAX_CELL = 34.0
MAX_BOARD_WIDTH = 1150.0  # points; rows wrap beyond this


@dataclass(frozen=True)
class Outline:
    """A rectangle drawn over cells ``[row, row + height) x [col, col + width)``."""

    row: float
    col: float
    height: float
    width: float
    color: str
    linewidth: float = 2.5
    linestyle: str = "-"


@dataclass
class Panel:
    """A titled grid of cells.

    ``values`` is 2-d; ``labels`` (same shape, strings) overrides the default number labels
    (``""`` leaves a cell blank). ``faces``/``hatches``/``text_colors`` are per-cell styles.
    ``corner`` maps ``(row, col)`` to a small label in the cell's top-left corner.
    """

    values: np.ndarray
    title: str = ""
    caption: str = ""
    faces: Optional[np.ndarray] = None
    hatches: Optional[np.ndarray] = None
    text_colors: Optional[np.ndarray] = None
    labels: Optional[np.ndarray] = None
    outlines: list[Outline] = field(default_factory=list)
    corner: dict[tuple[int, int], str] = field(default_factory=dict)
    row_labels: Optional[Sequence[str]] = None
    col_labels: Optional[Sequence[str]] = None
    show_indices: bool = True
    cell_width: float = 1.0  # in cells (matrix columns may be narrower or wider)
    bold_labels: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.values = np.atleast_2d(np.asarray(self.values, dtype=float))
        shape = self.values.shape
        if self.faces is None:
            self.faces = np.full(shape, COLORS["canvas"], dtype=object)
        if self.hatches is None:
            self.hatches = np.full(shape, "", dtype=object)
        if self.text_colors is None:
            self.text_colors = np.where(self.values == 0, COLORS["muted"], COLORS["text"]).astype(object)
        if self.labels is None:
            self.labels = np.vectorize(fmt_number, otypes=[object])(self.values)
        if self.bold_labels is None:
            self.bold_labels = np.zeros(shape, dtype=bool)
        if self.show_indices and self.row_labels is None:
            self.row_labels = [str(r) for r in range(shape[0])] if shape[0] > 1 else None
        if self.show_indices and self.col_labels is None:
            self.col_labels = [str(c) for c in range(shape[1])]

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.values.shape
        return int(rows), int(cols)

    def styles(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``faces, hatches, text_colors, labels, bold_labels`` (all filled in by ``__post_init__``)."""
        filled = (self.faces, self.hatches, self.text_colors, self.labels, self.bold_labels)
        if any(array is None for array in filled):
            raise RuntimeError("Panel styles are filled in by __post_init__; do not reset them to None")
        return cast(tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], filled)


@dataclass
class Symbol:
    """An operator (``×``, ``+``, ``→``, ``=``) centred between panels."""

    text: str
    size: float = 18.0
    hidden: bool = False  # keeps its width (to align rows) but draws nothing


@dataclass(frozen=True)
class LegendEntry:
    """One legend item: a swatch (face colour, hatch, edge) and its label."""

    label: str
    face: str
    hatch: str = ""
    edge: str = COLORS["edge"]
    linewidth: float = 0.8


Item = Union[Panel, Symbol]


@dataclass
class Board:
    """Everything one picture (or one animation frame) shows."""

    header: str
    rows: list[list[Item]]
    subheader: str = ""
    legend: list[LegendEntry] = field(default_factory=list)
    footer: str = ""
    max_grid_height: Optional[float] = None  # in points: caps the cell size for very tall grids


@dataclass(frozen=True)
class TextStyle:
    """Font family (a fallback list) used for every text of a board."""

    family: tuple[str, ...]
    bold: bool = True  # False for fonts without a bold face (most CJK fonts): no synthetic lookup

    def props(self, size: float, weight: str = "normal") -> FontProperties:
        if weight == "bold" and not self.bold:
            weight = "normal"
        return FontProperties(family=list(self.family), size=size, weight=weight)


# --------------------------------------------------------------------------------------------
# Text measurement and wrapping
# --------------------------------------------------------------------------------------------

_RENDERER: Optional[RendererAgg] = None


def _renderer() -> RendererAgg:
    global _RENDERER
    if _RENDERER is None:
        _RENDERER = RendererAgg(10, 10, 72)  # 72 dpi: one pixel is one point
    return _RENDERER


def text_width(text: str, props: FontProperties) -> float:
    """Width of one line of ``text`` in points."""
    if not text:
        return 0.0
    width, _height, _descent = _renderer().get_text_width_height_descent(text, props, ismath=False)
    return float(width) * 1.1 + 1.0  # glyph hinting makes text a little wider at other resolutions


_TOKEN = re.compile(r"[\u2e80-\u9fff\uff00-\uffef\u3000-\u303f]|[^\s\u2e80-\u9fff\uff00-\uffef\u3000-\u303f]+|\s+")


def wrap(text: str, props: FontProperties, width: float) -> list[str]:
    """Greedy wrap of ``text`` to ``width`` points: breaks at spaces, and between CJK characters."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for token in _TOKEN.findall(paragraph):
            candidate = line + token
            if line and not token.isspace() and text_width(candidate.rstrip(), props) > width:
                lines.append(line.rstrip())
                line = token
            else:
                line = candidate if (line or not token.isspace()) else ""
        lines.append(line.rstrip())
    return lines


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


@dataclass
class _Slot:
    width: float = 0.0
    title_lines: int = 0
    caption_lines: int = 0
    grid_width: float = 0.0
    grid_height: float = 0.0
    left: float = 0.0  # room for row labels
    top: float = 0.0  # room for column labels


@dataclass
class Layout:
    """Positions shared by every board drawn with it (sizes in points)."""

    cell: float
    number_size: float
    width: float
    height: float
    header_lines: int
    subheader_lines: int
    footer_lines: int
    legend_rows: list[list[int]]
    legend_height: float
    rows: list[list[tuple[float, _Slot]]]  # per visual row: (x, slot) per item
    row_tops: list[float]
    row_heights: list[float]
    item_rows: list[list[tuple[int, int]]]  # per board row, per item: (visual row, position)
    style: TextStyle


def _choose_cell(boards: Sequence[Board]) -> float:
    """Cell size: as large as allows the widest row's grids to fit the board width."""
    widest = 1.0
    for board in boards:
        for row in board.rows:
            cells = sum(item.shape[1] * item.cell_width + 1.5 for item in row if isinstance(item, Panel))
            widest = max(widest, cells)
            for item in row:
                if isinstance(item, Panel):
                    widest = max(widest, item.shape[1] * item.cell_width + 1.5)
    usable = MAX_BOARD_WIDTH - 2 * MARGIN
    cell = usable / widest
    for board in boards:
        if board.max_grid_height:
            tallest = max(item.shape[0] for row in board.rows for item in row if isinstance(item, Panel))
            cell = min(cell, board.max_grid_height / tallest)
    return float(np.clip(cell, MIN_CELL, MAX_CELL))


def _number_size(boards: Sequence[Board], cell: float) -> float:
    longest = 1
    narrowest = 1.0
    for board in boards:
        for row in board.rows:
            for item in row:
                if isinstance(item, Panel):
                    lengths = [len(str(label)) for label in item.styles()[3].ravel()]
                    longest = max(longest, max(lengths, default=1))
                    narrowest = min(narrowest, item.cell_width)
    fit = 0.9 * cell * narrowest / (0.62 * longest)
    return float(min(0.4 * cell, fit, 12.0))


def _panel_slot(panel: Panel, cell: float, style: TextStyle) -> _Slot:
    rows, cols = panel.shape
    grid_width = cols * cell * panel.cell_width
    index_props = style.props(INDEX_SIZE)
    left = 0.0
    if panel.row_labels:
        left = max(text_width(label, index_props) for label in panel.row_labels) + 4.0
    top = INDEX_SIZE * LINE + 2.0 if panel.col_labels else 0.0
    title_width = text_width(panel.title, style.props(TITLE_SIZE, "bold"))
    width = max(left + grid_width, min(title_width, left + grid_width + 6 * cell, MAX_BOARD_WIDTH / 2))
    title_lines = len(wrap(panel.title, style.props(TITLE_SIZE, "bold"), width)) if panel.title else 0
    caption_width = max(width, min(text_width(panel.caption, style.props(CAPTION_SIZE)), 3.2 * cell + width))
    caption_width = min(caption_width, MAX_BOARD_WIDTH / 2)
    caption_lines = len(wrap(panel.caption, style.props(CAPTION_SIZE), caption_width)) if panel.caption else 0
    return _Slot(
        width=max(width, caption_width if panel.caption else width),
        title_lines=title_lines,
        caption_lines=caption_lines,
        grid_width=grid_width,
        grid_height=rows * cell,
        left=left,
        top=top,
    )


def _symbol_slot(symbol: Symbol, style: TextStyle) -> _Slot:
    return _Slot(width=text_width(symbol.text, style.props(symbol.size)) + 4.0)


def _merge(a: _Slot, b: _Slot) -> _Slot:
    return _Slot(
        width=max(a.width, b.width),
        title_lines=max(a.title_lines, b.title_lines),
        caption_lines=max(a.caption_lines, b.caption_lines),
        grid_width=max(a.grid_width, b.grid_width),
        grid_height=max(a.grid_height, b.grid_height),
        left=max(a.left, b.left),
        top=max(a.top, b.top),
    )


def _slot_height(slot: _Slot) -> tuple[float, float]:
    """(height above the grid's top edge, total height) of a slot."""
    above = slot.title_lines * TITLE_SIZE * LINE + slot.top + (4.0 if slot.title_lines else 0.0)
    below = slot.caption_lines * CAPTION_SIZE * LINE + (4.0 if slot.caption_lines else 0.0)
    return above, above + slot.grid_height + below


def fit_layout(boards: Sequence[Board], style: TextStyle) -> Layout:
    """One layout that fits every board of ``boards`` (which must share their row structure)."""
    cell = _choose_cell(boards)
    number_size = _number_size(boards, cell)
    template = boards[0]
    slots: list[list[_Slot]] = []
    for r, row in enumerate(template.rows):
        row_slots = []
        for i in range(len(row)):
            merged = _Slot()
            for board in boards:
                item = board.rows[r][i]
                slot = _panel_slot(item, cell, style) if isinstance(item, Panel) else _symbol_slot(item, style)
                merged = _merge(merged, slot)
            row_slots.append(merged)
        slots.append(row_slots)

    # Flow items into visual rows no wider than the board.
    usable = MAX_BOARD_WIDTH - 2 * MARGIN
    visual: list[list[tuple[float, _Slot]]] = []
    item_rows: list[list[tuple[int, int]]] = []
    for row_slots in slots:
        positions = []
        x = 0.0
        visual.append([])
        for slot in row_slots:
            if visual[-1] and x + slot.width > usable:
                visual.append([])
                x = 0.0
            visual[-1].append((x, slot))
            positions.append((len(visual) - 1, len(visual[-1]) - 1))
            x += slot.width + GAP
        item_rows.append(positions)
    content_width = max((x + s.width for row in visual for x, s in row[-1:]), default=100.0)
    width = max(content_width, 420.0)

    header_props = style.props(HEADER_SIZE, "bold")
    header_lines = max(len(wrap(b.header, header_props, width)) for b in boards)
    subheader_lines = max((len(wrap(b.subheader, style.props(SUBHEADER_SIZE), width)) if b.subheader else 0) for b in boards)
    footer_lines = max((len(wrap(b.footer, style.props(CAPTION_SIZE), width)) if b.footer else 0) for b in boards)

    legend_rows = _legend_rows(template.legend, style, width)
    legend_height = len(legend_rows) * LEGEND_SIZE * 2.0

    row_heights = []
    for visual_row in visual:
        above = max(_slot_height(s)[0] for _x, s in visual_row)
        below = max(_slot_height(s)[1] - _slot_height(s)[0] for _x, s in visual_row)
        row_heights.append(max(above + below, max(s.grid_height for _x, s in visual_row)))
    y = MARGIN + header_lines * HEADER_SIZE * LINE + subheader_lines * SUBHEADER_SIZE * LINE + 10.0
    row_tops = []
    for height in row_heights:
        row_tops.append(y)
        y += height + ROW_GAP
    y += footer_lines * CAPTION_SIZE * LINE + (legend_height + 4.0 if legend_rows else 0.0)
    return Layout(
        cell=cell,
        number_size=number_size,
        width=width + 2 * MARGIN,
        height=y + MARGIN - ROW_GAP / 2,
        header_lines=header_lines,
        subheader_lines=subheader_lines,
        footer_lines=footer_lines,
        legend_rows=legend_rows,
        legend_height=legend_height,
        rows=visual,
        row_tops=row_tops,
        row_heights=row_heights,
        item_rows=item_rows,
        style=style,
    )


def _legend_item_width(entry: LegendEntry, style: TextStyle) -> float:
    return 1.6 * LEGEND_SIZE + 6.0 + text_width(entry.label, style.props(LEGEND_SIZE)) + 18.0


def _legend_rows(entries: Sequence[LegendEntry], style: TextStyle, width: float) -> list[list[int]]:
    rows: list[list[int]] = []
    x = width + 1.0
    for index, entry in enumerate(entries):
        item = _legend_item_width(entry, style)
        if x + item > width:
            rows.append([])
            x = 0.0
        rows[-1].append(index)
        x += item
    return rows


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


def _text(ax: Any, x: float, y: float, s: str, props: FontProperties, **kwargs: Any) -> Any:
    return ax.text(x, y, s, fontproperties=props, **kwargs)


def _draw_panel(ax: Any, panel: Panel, x: float, grid_top: float, slot: _Slot, layout: Layout) -> None:
    style = layout.style
    cell = layout.cell
    cw = cell * panel.cell_width
    rows, cols = panel.shape
    x0 = x + slot.left
    faces, hatches, text_colors, labels, bold_labels = panel.styles()
    title_props = style.props(TITLE_SIZE, "bold")
    if panel.title:
        lines = wrap(panel.title, title_props, slot.width)
        y_title = grid_top - slot.top - 4.0 - (len(lines) - 1) * TITLE_SIZE * LINE
        for k, line in enumerate(lines):
            _text(ax, x, y_title + k * TITLE_SIZE * LINE, line, title_props, ha="left", va="bottom", color=COLORS["text"])
    plain_cells, plain_faces = [], []
    for r in range(rows):
        for c in range(cols):
            corner = (x0 + c * cw, grid_top + r * cell)
            if hatches[r, c]:  # hatches need one patch each; they are few
                hatched = Rectangle(
                    corner, cw, cell, facecolor=faces[r, c], edgecolor=COLORS["edge"], linewidth=0.7,
                    hatch=hatches[r, c],
                )
                ax.add_artist(hatched)
            else:
                plain_cells.append(Rectangle(corner, cw, cell))
                plain_faces.append(faces[r, c])
            label = labels[r, c]
            if label:
                props = style.props(layout.number_size, "bold" if bold_labels[r, c] else "normal")
                _text(
                    ax,
                    x0 + (c + 0.5) * cw,
                    grid_top + (r + 0.5) * cell,
                    label,
                    props,
                    ha="center",
                    va="center_baseline",
                    color=text_colors[r, c],
                    bbox=dict(boxstyle="square,pad=0.08", facecolor=faces[r, c], edgecolor="none")
                    if hatches[r, c]
                    else None,
                )
    if plain_cells:  # one collection draws every plain cell: much faster than a patch per cell
        ax.add_collection(
            PatchCollection(plain_cells, facecolors=plain_faces, edgecolors=COLORS["edge"], linewidths=0.7, zorder=0.5),
            autolim=False,
        )
    for (r, c), label in panel.corner.items():
        _text(
            ax,
            x0 + c * cw + 2.0,
            grid_top + r * cell + 1.5,
            label,
            style.props(max(5.5, 0.26 * cell)),
            ha="left",
            va="top",
            color=COLORS["outline"],
        )
    index_props = style.props(INDEX_SIZE)
    if panel.col_labels:
        for c, label in enumerate(panel.col_labels):
            _text(ax, x0 + (c + 0.5) * cw, grid_top - 2.0, label, index_props, ha="center", va="bottom", color=COLORS["muted"])
    if panel.row_labels:
        for r, label in enumerate(panel.row_labels):
            _text(ax, x0 - 3.0, grid_top + (r + 0.5) * cell, label, index_props, ha="right", va="center", color=COLORS["muted"])
    for outline in panel.outlines:
        ax.add_artist(
            Rectangle(
                (x0 + outline.col * cw, grid_top + outline.row * cell),
                outline.width * cw,
                outline.height * cell,
                fill=False,
                edgecolor=outline.color,
                linewidth=outline.linewidth,
                linestyle=outline.linestyle,
                joinstyle="miter",
                zorder=3,
            )
        )
    if panel.caption:
        caption_props = style.props(CAPTION_SIZE)
        y = grid_top + rows * cell + 4.0
        for k, line in enumerate(wrap(panel.caption, caption_props, slot.width)):
            _text(ax, x, y + k * CAPTION_SIZE * LINE, line, caption_props, ha="left", va="top", color=COLORS["text"])


def _draw_legend(ax: Any, board: Board, layout: Layout, top: float) -> None:
    style = layout.style
    props = style.props(LEGEND_SIZE)
    swatch = 1.6 * LEGEND_SIZE
    for k, row in enumerate(layout.legend_rows):
        x = MARGIN
        y = top + k * LEGEND_SIZE * 2.0
        for index in row:
            entry = board.legend[index]
            ax.add_artist(
                Rectangle(
                    (x, y),
                    swatch,
                    LEGEND_SIZE * 1.3,
                    facecolor=entry.face,
                    edgecolor=entry.edge,
                    linewidth=entry.linewidth,
                    hatch=entry.hatch or None,
                )
            )
            _text(ax, x + swatch + 5.0, y + LEGEND_SIZE * 0.65, entry.label, props, ha="left", va="center", color=COLORS["text"])
            x += _legend_item_width(entry, style)


def draw_board(board: Board, layout: Layout, dpi: float = 100.0) -> Figure:
    """A new :class:`~matplotlib.figure.Figure` (Agg canvas attached) showing ``board``."""
    figure = Figure(figsize=(layout.width / 72.0, layout.height / 72.0), dpi=dpi, facecolor="white")
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, layout.width)
    ax.set_ylim(layout.height, 0.0)
    ax.set_axis_off()
    style = layout.style
    inner = layout.width - 2 * MARGIN

    y = MARGIN
    header_props = style.props(HEADER_SIZE, "bold")
    for line in wrap(board.header, header_props, inner):
        _text(ax, MARGIN, y, line, header_props, ha="left", va="top", color=COLORS["text"])
        y += HEADER_SIZE * LINE
    y = MARGIN + layout.header_lines * HEADER_SIZE * LINE
    if board.subheader:
        sub_props = style.props(SUBHEADER_SIZE)
        for line in wrap(board.subheader, sub_props, inner):
            _text(ax, MARGIN, y, line, sub_props, ha="left", va="top", color=COLORS["muted"])
            y += SUBHEADER_SIZE * LINE

    for r, row in enumerate(board.rows):
        for i, item in enumerate(row):
            visual_row, position = layout.item_rows[r][i]
            x, slot = layout.rows[visual_row][position]
            slots_here = [s for _x, s in layout.rows[visual_row]]
            above = max(_slot_height(s)[0] for s in slots_here)
            grid_top = layout.row_tops[visual_row] + above
            if isinstance(item, Panel):
                _draw_panel(ax, item, MARGIN + x, grid_top, slot, layout)
            elif not item.hidden:
                tallest = max(s.grid_height for s in slots_here)
                _text(
                    ax,
                    MARGIN + x + slot.width / 2,
                    grid_top + tallest / 2,
                    item.text,
                    style.props(item.size),
                    ha="center",
                    va="center",
                    color=COLORS["muted"],
                )

    y = layout.row_tops[-1] + layout.row_heights[-1] + ROW_GAP / 2 if layout.row_tops else y
    if board.footer:
        props = style.props(CAPTION_SIZE)
        for line in wrap(board.footer, props, inner):
            _text(ax, MARGIN, y, line, props, ha="left", va="top", color=COLORS["text"])
            y += CAPTION_SIZE * LINE
    y = layout.row_tops[-1] + layout.row_heights[-1] + ROW_GAP / 2 + layout.footer_lines * CAPTION_SIZE * LINE + 4.0
    if board.legend:
        _draw_legend(ax, board, layout, y)
    return figure
