"""Terminal text renderer: aligned number grids with short explanations, in English or Chinese.

Marked cells are always bracketed (``[v]`` written by this step or added by output_padding,
``(v)`` removed by padding), so the text reads the same without colour; with ``color=True`` they
are also coloured with ANSI escapes.

Examples
--------
>>> from convtranspose.explain import explain
>>> text = render_text(explain([[0, 1], [2, 3]], [[1.1, 2.2], [3.3, 4.4]]))
>>> text.splitlines()[-1]
'equals conv_transpose: yes'
"""

from __future__ import annotations

import contextvars
import textwrap
import unicodedata
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from ..explain import (
    BiasStep,
    FoldStep,
    CellOrigin,
    CropStep,
    DilateKernelStep,
    Explanation,
    FullCanvasStep,
    MatrixView,
    OutputPaddingStep,
    OverlapView,
    PhaseView,
    Problem,
    ScatterStep,
    SolveResult,
    Trace,
    ZeroInsertionView,
    as_grid,
)
from ..i18n import tr
from ..shape import AxisGeometry

__all__ = [
    "render_text",
    "render_shape",
    "render_solve",
    "format_number",
    "format_grid",
    "step_caption",
    "formula_lines",
]

_ANSI = {"hi": "\x1b[1;33m", "removed": "\x1b[2m", "added": "\x1b[1;32m", "bias_only": "\x1b[1;35m"}
_RESET = "\x1b[0m"
_BRACKETS = {"hi": "[]", "removed": "()", "added": "[]", "bias_only": "[]"}


def format_number(value: float) -> str:
    """Compact ``%g``-style text: ``11.0 -> '11'``, ``3.3000000000000003 -> '3.3'``, no ``-0``.

    Examples
    --------
    >>> [format_number(v) for v in (11.0, 1.1 * 3, -0.0, 0.125, 1234567.0)]
    ['11', '3.3', '0', '0.125', '1.2346e+06']
    """
    text = f"{float(value):.5g}"
    return "0" if text == "-0" else text


def _tuple_text(values: Iterable[int]) -> str:
    """``(2, 3)``; a single value keeps Python's trailing comma: ``(9,)``."""
    items = [str(v) for v in values]
    return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"


def _list_text(values: Iterable[object], lang: str = "en") -> str:
    """Items of a list in running text: "0, 2" in English, "0、2" (the enumeration comma) in Chinese."""
    return ("、" if lang == "zh" else ", ").join(str(v) for v in values)


def _index_text(index: Sequence[int]) -> str:
    return "[" + ",".join(str(i) for i in index) + "]"


def format_grid(
    array: np.ndarray,
    marks: Optional[np.ndarray] = None,
    *,
    color: bool = False,
    zero: Optional[str] = None,
    indices: bool = True,
    strings: Optional[np.ndarray] = None,
) -> list[str]:
    """Lines of an aligned grid; 1-d arrays print as one row.

    Parameters
    ----------
    array : ndarray
        Numbers to print (ignored where ``strings`` is given).
    marks : ndarray of str or None, same shape
        Per cell: "" (plain), "hi", "removed", "added" or "bias_only".
    color : bool
        Also colour marked cells with ANSI escapes.
    zero : str, optional
        Print exact zeros as this (e.g. "." in a sparse matrix).
    indices : bool
        Print column indices above and row indices on the left.
    strings : ndarray of str, optional
        Print these instead of numbers (e.g. origin letters).
    """
    grid = as_grid(np.asarray(array))
    rows, cols = grid.shape
    if rows == 0 or cols == 0:
        return ["(empty)"]
    texts = as_grid(strings) if strings is not None else None
    cell_marks = as_grid(marks) if marks is not None else np.full(grid.shape, "", dtype=object)

    def text_of(r: int, c: int) -> str:
        if texts is not None:
            return str(texts[r, c])
        value = grid[r, c]
        return zero if zero is not None and value == 0 else format_number(value)

    cells = [[text_of(r, c) for c in range(cols)] for r in range(rows)]
    width = max(max(len(t) for row in cells for t in row), len(str(cols - 1)) if indices else 0)
    row_label_width = len(str(rows - 1)) if indices and array.ndim == 2 else 0

    def cell(r: int, c: int) -> str:
        mark = str(cell_marks[r, c])
        body = cells[r][c].rjust(width)
        if not mark:
            return f" {body} "
        opening, closing = _BRACKETS[mark][0], _BRACKETS[mark][1]
        framed = f"{opening}{body}{closing}"
        return f"{_ANSI[mark]}{framed}{_RESET}" if color else framed

    lines = []
    prefix = " " * (row_label_width + 1) if row_label_width else ""
    if indices:
        lines.append(prefix + "".join(f" {str(c).rjust(width)} " for c in range(cols)).rstrip())
    for r in range(rows):
        label = f"{str(r).rjust(row_label_width)} " if row_label_width else ""
        lines.append((label + "".join(cell(r, c) for c in range(cols))).rstrip())
    return lines


def _visible_len(line: str) -> int:
    """Terminal columns of ``line`` without its ANSI escapes."""
    for code in list(_ANSI.values()) + [_RESET]:
        line = line.replace(code, "")
    return _display_width(line)


#: Terminal columns available to the renderer (None: no limit); set by :func:`render_text`.
_WIDTH: contextvars.ContextVar[Optional[int]] = contextvars.ContextVar("width", default=None)


def side_by_side(blocks: Sequence[tuple[str, list[str]]], gap: int = 4) -> list[str]:
    """Titled blocks of lines next to each other, or one below the other when that is too wide.

    The limit is the ``width`` given to :func:`render_text` (none by default).
    """
    columns = [[title] + lines for title, lines in blocks]
    widths = [max(_visible_len(line) for line in column) for column in columns]
    limit = _WIDTH.get()
    if limit is not None and len(columns) > 1 and sum(widths) + gap * (len(columns) - 1) > limit:
        stacked: list[str] = []
        for column in columns:
            stacked += ([""] if stacked else []) + column
        return stacked
    height = max(len(column) for column in columns)
    out = []
    for i in range(height):
        parts = []
        for column, width in zip(columns, widths):
            line = column[i] if i < len(column) else ""
            parts.append(line + " " * (width - _visible_len(line)))
        out.append((" " * gap).join(parts).rstrip())
    return out


def _wrap(text: str, width: Optional[int] = None) -> list[str]:
    """Break a paragraph into lines of at most ``width`` terminal columns (CJK-aware).

    By default 100 columns, or fewer when :func:`render_text` was given a smaller ``width``.
    """
    width = width if width is not None else min(100, _WIDTH.get() or 100)
    if _display_width(text) == len(text):
        return textwrap.wrap(text, width=width) or [""]
    lines, current = [], ""
    for ch in text:
        if _display_width(current + ch) <= width:
            current += ch
            continue
        cut = _break_point(current) if ch.isascii() and ch.strip() else len(current)
        lines.append(current[:cut].rstrip())
        current = (current[cut:] + ch).lstrip()
    return lines + ([current] if current else [])


def _break_point(line: str) -> int:
    """Where to break ``line`` without splitting an ASCII word: after its last space or wide char."""
    for i in range(len(line) - 1, 0, -1):
        if line[i] == " " or not line[i].isascii() or not line[i - 1].isascii():
            return i
    return len(line)


def _indent(lines: Iterable[str], spaces: int = 2) -> list[str]:
    return [(" " * spaces + line) if line else line for line in lines]


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------


def _axis_names(ndim: int, lang: str) -> list[str]:
    if ndim == 1:
        return [tr(lang, "axis_length")]
    return [tr(lang, "axis_rows"), tr(lang, "axis_cols")]


def _formula_lines(
    geometry: Sequence[AxisGeometry], lang: str, names: Optional[Sequence[str]] = None, form: str = "explicit"
) -> list[str]:
    """The output-size formula with each axis' numbers; ``(before + after)`` for unequal crops,
    and for ``'same'`` how its crop was split."""
    lines = [tr(lang, "formula")]
    for name, g in zip(names or _axis_names(len(geometry), lang), geometry):
        values = dict(
            axis=name, n=g.input_size, s=g.stride, p=g.pad_before, b=g.pad_before, a=g.pad_after,
            d=g.dilation, k=g.kernel_size, op=g.output_padding, out=g.output, full=g.full,
        )
        key = "formula_line" if g.pad_before == g.pad_after else "formula_line_pairs"
        lines.append(tr(lang, key, **values))
        if form in ("same", "same_lower"):
            total = g.dilation * (g.kernel_size - 1) + 1 - g.stride + g.output_padding
            if total >= 0:
                lines.append(tr(lang, f"formula_{form}", total=total, **values))
            else:
                lines.append(tr(lang, "formula_same_short", total=total, extra=-total, **values))
    return lines


def _header(problem: Problem, title_key: str, lang: str, **values: object) -> list[str]:
    params = tr(
        lang,
        "params",
        input_shape=_tuple_text(problem.input.shape),
        kernel_shape=_tuple_text(problem.kernel.shape),
        stride=_tuple_text(problem.stride),
        padding=problem.padding_label,
        output_padding=_tuple_text(problem.output_padding),
        dilation=_tuple_text(problem.dilation),
    )
    if problem.padding_mode != "zeros":
        params += tr(lang, "params_mode", mode=problem.padding_mode)
    if problem.bias is not None:
        params += tr(lang, "params_bias", bias=format_number(problem.bias))
    title = tr(lang, title_key, **values)
    lines = [title, "=" * _display_width(title), params]
    lines += _formula_lines(problem.geometry, lang, form=problem.spec.padding_form)
    if problem.channels is not None:
        ch = problem.channels
        lines += _wrap(
            tr(
                lang,
                "channels_note",
                cin=ch.in_channels,
                cout=ch.out_channels,
                groups=ch.groups,
                weight_shape=_tuple_text(ch.weight_shape),
                per=ch.in_per_group,
                out_per=ch.out_per_group,
            )
        )
    lines.append("")
    lines += side_by_side(
        [(tr(lang, "input_label"), format_grid(problem.input)), (tr(lang, "kernel_label"), format_grid(problem.kernel))]
    )
    return lines


def _result_lines(output: np.ndarray, problem: Problem, lang: str, label_key: str = "output_label") -> list[str]:
    lines = ["", tr(lang, label_key) + f" {_tuple_text(output.shape)}"]
    lines += format_grid(output)
    close = np.allclose(output, problem.reference, rtol=1e-12, atol=1e-12)
    if close:
        lines += ["", tr(lang, "check_yes")]
    else:
        diff = format_number(float(np.max(np.abs(output - problem.reference))))
        lines += ["", tr(lang, "check_no", diff=diff)]
    return lines


def _step_lines(n: int, total: int, title: str, lang: str) -> list[str]:
    return ["", tr(lang, "step_header", n=n, total=total, title=title)]


# --------------------------------------------------------------------------------------------
# Scatter trace
# --------------------------------------------------------------------------------------------


def _marks_at(shape: tuple[int, ...], cells: Iterable[Sequence[int]], kind: str) -> np.ndarray:
    marks = np.full(shape, "", dtype=object)
    for cell in cells:
        marks[tuple(cell)] = kind
    return marks


def _span_text(problem: Problem) -> str:
    return " x ".join(str(s) for s in problem.dilated_kernel.shape)


def _dilate_lines(step: DilateKernelStep, problem: Problem, lang: str, color: bool) -> tuple[str, list[str]]:
    if all(d == 1 for d in step.dilation):
        return tr(lang, "dilate_plain"), _indent(format_grid(step.kernel))
    title = tr(lang, "dilate_title", dilation=_tuple_text(step.dilation), span=_span_text(problem))
    marks = _marks_at(step.dilated.shape, step.tap_positions, "hi")
    body = side_by_side(
        [
            (tr(lang, "kernel_label"), format_grid(step.kernel)),
            (tr(lang, "dilated_label"), format_grid(step.dilated, marks, color=color)),
        ]
    )
    return title, _indent(body)


def _why_scatter(step: ScatterStep, problem: Problem, lang: str) -> str:
    spans = [(r.start, r.stop - 1) for r in step.region]
    if problem.ndim == 1:
        return tr(lang, "why_1d", a0=spans[0][0], a1=spans[0][1], s=problem.stride[0], o=step.offset[0])
    (r0, r1), (c0, c1) = spans
    sh, sw = problem.stride
    return tr(
        lang,
        "why_2d",
        r0=r0,
        r1=r1,
        c0=c0,
        c1=c1,
        stride=_tuple_text(problem.stride),
        sh=sh,
        sw=sw,
        oi=step.offset[0],
        oj=step.offset[1],
    )


def _scatter_lines(step: ScatterStep, problem: Problem, lang: str, color: bool, first: bool) -> tuple[str, list[str]]:
    index = _index_text(step.input_index)
    title = tr(lang, "scatter_step", index=index, value=format_number(step.input_value))
    body = [_why_scatter(step, problem, lang)]
    if step.input_value == 0:
        body.append(tr(lang, "zero_value", index=index))
    if first:
        body.append(tr(lang, "highlight_legend"))
    marks = _marks_at(problem.full_shape, step.cells, "hi")
    body += side_by_side(
        [
            (tr(lang, "contribution_label"), format_grid(step.contribution, marks, color=color)),
            (tr(lang, "running_label"), format_grid(step.running_sum, marks, color=color)),
        ]
    )
    return title, _indent(body)


def _output_padding_lines(step: OutputPaddingStep, lang: str, color: bool) -> tuple[str, list[str]]:
    title = tr(lang, "op_title", output_padding=_tuple_text(step.output_padding))
    marks = np.full(step.result.shape, "", dtype=object)
    letters = np.full(step.result.shape, ".", dtype=object)
    for cell in step.cells:
        recovered = cell.origin is CellOrigin.RECOVERED
        marks[cell.output_index] = "added" if recovered else "bias_only"
        letters[cell.output_index] = "R" if recovered else "B"
    body = _wrap(tr(lang, "op_why")) + _wrap(tr(lang, "op_legend"))
    body += side_by_side(
        [
            (tr(lang, "before_bias_label"), format_grid(step.result, marks, color=color)),
            (tr(lang, "origins_label"), format_grid(step.result, marks, color=color, strings=letters)),
        ]
    )
    return title, _indent(body)


def _bias_lines(step: BiasStep, lang: str) -> tuple[str, list[str]]:
    title = tr(lang, "bias_title", bias=format_number(step.bias))
    body = side_by_side(
        [(tr(lang, "before_bias_label"), format_grid(step.before)), ("+ " + format_number(step.bias), format_grid(step.after))]
    )
    return title, _indent(body)


def formula_lines(geometry: Sequence[AxisGeometry], lang: str = "en", form: str = "explicit") -> list[str]:
    """The output size formula, then one line per axis with the numbers plugged in.

    ``form`` is the spec's ``padding_form``: for ``'same'``/``'same_lower'`` a line per axis adds
    how the total crop ``d*(k - 1) + 1 - s + output_padding`` was split.

    Examples
    --------
    >>> from convtranspose.explain import make_problem
    >>> formula_lines(make_problem([1.0, 2.0], [1.0, 1.0, 1.0], stride=2).geometry)[1].strip()
    'length: (2 - 1)*2 - 2*0 + 1*(3 - 1) + 0 + 1 = 5   (full canvas before the crop: 5)'
    """
    return _formula_lines(geometry, lang, form=form)


def step_caption(step: object, problem: Problem, lang: str = "en") -> tuple[str, list[str]]:
    """Title and explanatory sentences of one trace step, without its grids (for the web page).

    Examples
    --------
    >>> from convtranspose.explain import build_trace
    >>> t = build_trace([1.0, 2.0], [1.0, 1.0], stride=2)
    >>> step_caption(t.steps[2], t.problem)
    ('x[1] = 2 times the kernel', ['stamped at positions 2..3 because stride 2 puts input i at i*2 = 2'])
    """
    if isinstance(step, DilateKernelStep):
        if all(d == 1 for d in step.dilation):
            return tr(lang, "dilate_plain"), []
        return tr(lang, "dilate_title", dilation=_tuple_text(step.dilation), span=_span_text(problem)), []
    if isinstance(step, ScatterStep):
        index = _index_text(step.input_index)
        notes = [_why_scatter(step, problem, lang)]
        if step.input_value == 0:
            notes.append(tr(lang, "zero_value", index=index))
        return tr(lang, "scatter_step", index=index, value=format_number(step.input_value)), notes
    if isinstance(step, FullCanvasStep):
        return tr(lang, "full_title", shape=_tuple_text(step.canvas.shape)), []
    if isinstance(step, CropStep):
        notes = [tr(lang, "crop_why")] + ([tr(lang, "crop_empty")] if step.cropped.size == 0 else [])
        return _crop_title(step, problem, lang), notes
    if isinstance(step, OutputPaddingStep):
        return tr(lang, "op_title", output_padding=_tuple_text(step.output_padding)), [tr(lang, "op_why")]
    if isinstance(step, FoldStep):
        return tr(lang, "fold_title", mode=repr(step.padding_mode)), [tr(lang, f"fold_why_{step.padding_mode}")]
    if isinstance(step, BiasStep):
        return tr(lang, "bias_title", bias=format_number(step.bias)), []
    raise TypeError(f"not a trace step: {type(step).__name__}")


#: Scatter steps beyond which ``detail="auto"`` prints each scatter step as one line.
SUMMARY_AFTER_STEPS = 16

#: Accepted values of ``render_text(..., detail=)``.
DETAILS = ("auto", "full", "summary")

_DETAIL: contextvars.ContextVar[str] = contextvars.ContextVar("detail", default="full")


def _render_trace(trace: Trace, lang: str, color: bool) -> list[str]:
    problem = trace.problem
    lines = _header(problem, "scatter_title", lang)
    lines += [""] + _wrap(tr(lang, "scatter_intro"))
    total = len(trace.steps)
    detail = _DETAIL.get()
    summary = detail == "summary" or (detail == "auto" and len(trace.scatter_steps) > SUMMARY_AFTER_STEPS)
    if summary:
        lines += [""] + _wrap(tr(lang, "summary_note", steps=len(trace.scatter_steps)))
    canvas = None
    for step in trace.steps:
        if isinstance(step, DilateKernelStep):
            title, body = _dilate_lines(step, problem, lang, color)
        elif isinstance(step, ScatterStep) and summary:
            title = tr(lang, "scatter_step", index=_index_text(step.input_index), value=format_number(step.input_value))
            lines.append(tr(lang, "step_header", n=step.index + 1, total=total, title=title))
            continue
        elif isinstance(step, ScatterStep):
            title, body = _scatter_lines(step, problem, lang, color, first=step.number == 1)
        elif isinstance(step, FullCanvasStep):
            canvas = step.canvas
            title = tr(lang, "full_title", shape=_tuple_text(step.canvas.shape))
            body = _indent(format_grid(step.canvas))
        elif isinstance(step, CropStep):
            title, body = _crop_lines_with(step, step.cropped if canvas is None else canvas, problem, lang, color)
        elif isinstance(step, OutputPaddingStep):
            title, body = _output_padding_lines(step, lang, color)
        elif isinstance(step, FoldStep):
            title, body = _fold_lines(step, canvas, problem, lang, color)
        else:
            title, body = _bias_lines(step, lang)
        lines += _step_lines(step.index + 1, total, title, lang) + body
    return lines + _result_lines(trace.output, problem, lang)


#: Most fold moves listed one per line (the grids show them all).
MAX_FOLD_LINES = 12


def _fold_lines(
    step: FoldStep, canvas: Optional[np.ndarray], problem: Problem, lang: str, color: bool
) -> tuple[str, list[str]]:
    title = tr(lang, "fold_title", mode=repr(step.padding_mode))
    body = _wrap(tr(lang, f"fold_why_{step.padding_mode}")) + [tr(lang, "fold_legend")]
    for move in step.moves[:MAX_FOLD_LINES]:
        body.append(
            tr(lang, "fold_move", canvas=_index_text(move.canvas_index), value=format_number(move.value),
               output=_index_text(move.output_index))
        )
    if len(step.moves) > MAX_FOLD_LINES:
        body.append(tr(lang, "fold_more", count=len(step.moves) - MAX_FOLD_LINES))
    targets = _marks_at(step.after.shape, {m.output_index for m in step.moves}, "hi")
    blocks = []
    if canvas is not None:
        blocks.append(("", format_grid(canvas, np.where(step.border, "removed", "").astype(object), color=color)))
    blocks += [
        (tr(lang, "fold_before"), format_grid(step.before)),
        (tr(lang, "fold_added"), format_grid(step.added, targets, color=color)),
        (tr(lang, "fold_after"), format_grid(step.after, targets, color=color)),
    ]
    body += side_by_side(blocks)
    return title, _indent(body)


def _crop_title(step: CropStep, problem: Problem, lang: str) -> str:
    """The crop step's title: the padding as given, and the (before, after) cells it crops."""
    pads = tuple((start, int(full) - stop) for (start, stop), full in zip(step.kept, step.removed.shape))
    if isinstance(problem.padding, str):
        return tr(lang, "crop_title_form", form=problem.padding_label, pads=str(pads))
    if all(before == after for before, after in pads):
        return tr(lang, "crop_title", padding=_tuple_text(before for before, _ in pads))
    return tr(lang, "crop_title_pairs", pads=str(pads))


def _crop_lines_with(
    step: CropStep, canvas: np.ndarray, problem: Problem, lang: str, color: bool
) -> tuple[str, list[str]]:
    title = _crop_title(step, problem, lang)
    marks = np.where(step.removed, "removed", "").astype(object)
    kept_title = tr(lang, "crop_kept", shape=_tuple_text(step.cropped.shape))
    body = _wrap(tr(lang, "crop_why")) + [tr(lang, "crop_legend")]
    if step.cropped.size == 0:
        body.append(tr(lang, "crop_empty"))
    body += side_by_side(
        [("", format_grid(canvas, marks, color=color)), (kept_title, format_grid(step.cropped))]
    )
    return title, _indent(body)


# --------------------------------------------------------------------------------------------
# Alternate views
# --------------------------------------------------------------------------------------------


def _render_zero_insertion(view: ZeroInsertionView, lang: str, color: bool) -> list[str]:
    problem = view.problem
    lines = _header(problem, "conv_title", lang)
    gaps = _tuple_text(s - 1 for s in problem.stride)
    lines += _step_lines(1, 4, tr(lang, "conv_insert", gaps=gaps), lang)
    inserted_marks = _marks_at(
        view.inserted.shape, (tuple(i * s for i, s in zip(e, problem.stride)) for e in np.ndindex(*problem.input.shape)), "hi"
    )
    lines += _indent(
        side_by_side([(tr(lang, "inserted_label"), format_grid(view.inserted, inserted_marks, color=color))])
    )
    lines += _step_lines(2, 4, tr(lang, "conv_pad"), lang)
    for name, g, before, after in zip(_axis_names(problem.ndim, lang), problem.geometry, view.pad_before, view.pad_after):
        lines.append(
            tr(lang, "conv_pad_line", axis=name, d=g.dilation, k=g.kernel_size, p=g.padding, before=before, op=g.output_padding, after=after)
        )
    if view.crops:
        lines.append(tr(lang, "conv_crop_note"))
    padded_cells = []
    for element in np.ndindex(*problem.input.shape):
        cell = tuple(i * s + b for i, s, b in zip(element, problem.stride, view.pad_before))
        if all(0 <= c < n for c, n in zip(cell, view.padded.shape)):
            padded_cells.append(cell)
    padded_marks = _marks_at(view.padded.shape, padded_cells, "hi")
    lines += _indent(side_by_side([(tr(lang, "padded_label"), format_grid(view.padded, padded_marks, color=color))]))
    lines += _step_lines(3, 4, tr(lang, "conv_flip"), lang)
    lines += _indent(
        side_by_side(
            [
                (tr(lang, "flip_before"), format_grid(view.kernel)),
                ("-> " + tr(lang, "flip_after"), format_grid(view.flipped_kernel)),
            ]
        )
    )
    lines += _indent(_wrap(tr(lang, "conv_why_flip")))
    lines += _step_lines(4, 4, tr(lang, "conv_slide"), lang)
    return lines + _result_lines(view.output, problem, lang)


def _render_matrix(view: MatrixView, lang: str, color: bool) -> list[str]:
    problem = view.problem
    inputs, outputs = view.matrix.shape
    lines = _header(problem, "matrix_title", lang)
    lines += [""] + _wrap(tr(lang, "matrix_intro", inputs=inputs, outputs=outputs))
    if view.paired_conv_rows != inputs:
        lines.append(tr(lang, "matrix_paired_note", rows=view.paired_conv_rows, inputs=inputs))
    vector = "[" + ", ".join(format_number(v) for v in view.input_vector) + "]"
    product_column = view.product.reshape(-1, 1)
    lines += [""] + side_by_side(
        [
            (tr(lang, "matrix_ct", rows=outputs, cols=inputs, vector=vector), format_grid(view.transposed, zero=".")),
            ("C^T x", format_grid(product_column)),
        ]
    )
    lines += ["", tr(lang, "matrix_product", shape=_tuple_text(problem.output_shape))]
    return lines + _result_lines(view.output, problem, lang)


def _render_phase(view: PhaseView, lang: str, color: bool) -> list[str]:
    problem = view.problem
    lines = _header(problem, "phase_title", lang, count=len(view.phases))
    lines += [""] + _wrap(tr(lang, "phase_intro"))
    for phase in view.phases:
        taps = ", ".join(_index_text(t) for t in phase.taps) or "-"
        lines += ["", tr(lang, "phase_header", residue=_tuple_text(phase.residue), taps=taps)]
        if problem.ndim == 1:
            where = tr(lang, "phase_positions_1d", positions=_list_text(phase.output_positions[0], lang))
        else:
            where = tr(
                lang,
                "phase_positions_2d",
                rows=_list_text(phase.output_positions[0], lang),
                cols=_list_text(phase.output_positions[1], lang),
            )
        lines.append("  " + (where if phase.values.size else tr(lang, "phase_no_cells")))
        if phase.empty:
            lines.append("  " + tr(lang, "phase_empty"))
        blocks = []
        if not phase.empty:
            blocks.append((tr(lang, "phase_sub_kernel"), format_grid(phase.sub_kernel)))
        if phase.values.size:
            blocks.append((tr(lang, "phase_values"), format_grid(phase.values)))
        if blocks:
            lines += _indent(side_by_side(blocks))
    return lines + _result_lines(view.output, problem, lang, "interleaved_label")


def _render_overlap(view: OverlapView, lang: str, color: bool) -> list[str]:
    problem = view.problem
    lines = _header(problem, "overlap_title", lang)
    lines += ["", tr(lang, "counts_label")] + format_grid(view.counts)
    names = _axis_names(problem.ndim, lang)
    lines.append("")
    for name, g, axis in zip(names, problem.geometry, view.axes):
        verdict = "verdict_even" if axis.even else ("verdict_gaps" if axis.gaps else "verdict_uneven")
        lines.append(
            tr(lang, "axis_phase_counts", axis=name, s=g.stride, counts=_tuple_text(axis.counts), verdict=tr(lang, verdict))
        )
    if view.even:
        lines += _wrap(tr(lang, "overlap_even"))
    else:
        axes = _list_text((names[a] for a in view.uneven_axes), lang)
        warning = tr(lang, "overlap_warn", axes=axes)
        lines += [f"{_ANSI['bias_only']}{line}{_RESET}" if color else line for line in _wrap(warning)]
    return lines + _result_lines(view.output, problem, lang, "output_sum_label")


_RENDERERS: dict[type, Callable[[Any, str, bool], list[str]]] = {
    Trace: _render_trace,
    ZeroInsertionView: _render_zero_insertion,
    MatrixView: _render_matrix,
    PhaseView: _render_phase,
    OverlapView: _render_overlap,
}


def render_text(
    explanation: Explanation,
    lang: str = "en",
    color: bool = False,
    *,
    width: Optional[int] = None,
    detail: str = "full",
) -> str:
    """Text of any object :func:`convtranspose.explain.explain` returns.

    Parameters
    ----------
    explanation : Trace, ZeroInsertionView, MatrixView, PhaseView or OverlapView
    lang : {"en", "zh"}
    color : bool
        Add ANSI colours (the caller decides whether the terminal wants them).
    width : int, optional
        Terminal columns: grids shown side by side are stacked when they would be wider.
    detail : {"full", "summary", "auto"}
        ``"summary"`` prints each scatter step of the trace as one line (the full canvas, crop and
        result are still shown); ``"auto"`` does so beyond ``SUMMARY_AFTER_STEPS`` steps.

    Examples
    --------
    >>> from convtranspose.explain import explain
    >>> e = explain([[0, 1], [2, 3]], [[1.1, 2.2], [3.3, 4.4]])
    >>> def alone(text):  # the "running sum" grid has a line of its own: stacked below the step's grid
    ...     return any(line.strip() == "running sum" for line in text.splitlines())
    >>> alone(render_text(e)), alone(render_text(e, width=30))
    (False, True)
    """
    renderer = _RENDERERS.get(type(explanation))
    if renderer is None:
        raise TypeError(f"cannot render {type(explanation).__name__}; expected one of the explain() views")
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}, got detail={detail!r}")
    width_token, detail_token = _WIDTH.set(width), _DETAIL.set(detail)
    try:
        return "\n".join(renderer(explanation, lang, color)) + "\n"
    finally:
        _WIDTH.reset(width_token)
        _DETAIL.reset(detail_token)


# --------------------------------------------------------------------------------------------
# shape and solve commands
# --------------------------------------------------------------------------------------------


def render_shape(geometry: Sequence[AxisGeometry], lang: str = "en", form: str = "explicit") -> str:
    """The output size with the formula and the numbers plugged in, per dimension (``form``: the
    padding form, ``'same'`` explains its split)."""
    title = tr(lang, "shape_title")
    names = _axis_names(len(geometry), lang) if len(geometry) <= 2 else [f"dim {a}" for a in range(len(geometry))]
    lines = [title, ""] + _formula_lines(geometry, lang, names, form=form)
    outputs = [g.output for g in geometry]
    shown = str(outputs[0]) if len(outputs) == 1 else _tuple_text(outputs)
    lines += ["", tr(lang, "shape_result", shape=shown)]
    return "\n".join(lines) + "\n"


def render_solve(result: SolveResult, lang: str = "en", limit: int = 20, color: bool = False) -> str:
    """The ranked solutions of :func:`convtranspose.explain.solve` as a table."""
    b = result.bounds
    lines = [tr(lang, "solve_title", n=result.input_size, out=result.output_size)]
    lines += _wrap(
        tr(
            lang,
            "solve_bounds",
            k0=b.kernel[0],
            k1=b.kernel[1],
            s0=b.stride[0],
            s1=b.stride[1],
            p0=b.padding[0],
            p1=b.padding[1],
            d0=b.dilation[0],
            d1=b.dilation[1],
        )
    )
    if not result.solutions:
        none = _wrap(tr(lang, "solve_none", n=result.input_size, out=result.output_size))
        return "\n".join(lines + [""] + none) + "\n"
    lines += [tr(lang, "solve_count", count=len(result.solutions)), ""]
    keys = ["col_kernel", "col_stride", "col_padding", "col_output_padding", "col_dilation", "col_overlap", "col_note"]
    header = [tr(lang, k) for k in keys]
    shown = result.solutions if limit <= 0 else result.solutions[:limit]
    rows = []
    for s in shown:
        note = "note_even" if s.even else ("note_gaps" if s.gaps else "note_uneven")
        counts = _tuple_text(s.overlap.counts)
        rows.append([str(s.kernel_size), str(s.stride), str(s.padding), str(s.output_padding), str(s.dilation), counts, tr(lang, note)])
    widths = [max(_display_width(r[i]) for r in rows + [header]) for i in range(len(header))]

    def fmt_row(cells: list[str], flagged: bool = False) -> str:
        text = "  ".join(c + " " * (w - _display_width(c)) for c, w in zip(cells, widths)).rstrip()
        return f"{_ANSI['bias_only']}{text}{_RESET}" if (flagged and color) else text

    lines.append(fmt_row(header))
    lines.append("  ".join("-" * w for w in widths))
    for s, row in zip(shown, rows):
        lines.append(fmt_row(row, s.checkerboard_prone))
    if len(shown) < len(result.solutions):
        lines.append(tr(lang, "solve_truncated", more=len(result.solutions) - len(shown)))
    return "\n".join(lines) + "\n"


def _display_width(text: str) -> int:
    """Terminal columns: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
