"""Figures of the explainer: PNG and SVG pictures and animated GIFs (matplotlib, Agg backend).

Entry point: :func:`render_figure` takes any explanation :func:`convtranspose.explain.explain`
returns and writes one file:

===========================  ===============================================  =====================================
explanation                  PNG / SVG                                        GIF frames
===========================  ===============================================  =====================================
``Trace`` ("scatter")        storyboard: input, kernel, every scaled kernel   one per trace step (see below)
                             copy on the canvas, their sum, the output
                             (a single summary board when that gets too big)
``ZeroInsertionView``        input -> zeros inserted -> padded -> ⋆ flipped   one per output cell (the sliding
("conv")                     kernel -> output                                 window), plus a first overview frame
``MatrixView`` ("matrix")    ``Cᵀ · x = output``, zeros left blank            not available (``ParameterError``)
``PhaseView`` ("phase")      per phase: sub-kernel and values; interleaved    one per phase, plus a first overview
                             output coloured by phase                         frame
``OverlapView`` ("overlap")  terms per output cell (heat map) and output      not available (``ParameterError``)
===========================  ===============================================  =====================================

GIF of a trace: exactly one frame per entry of ``trace.steps``, in order: the dilated kernel, one
frame per scatter step (input element), the full canvas, then the crop, output_padding and bias
frames when the trace has those steps. So ``n_frames == len(trace.steps)`` ==
``len(trace.scatter_steps) + 2 + (padding != 0) + (output_padding != 0) + (bias is not None)``.
Each frame shows the input (current element highlighted), the (dilated) kernel, the full canvas
with the running sum (current kernel copy outlined, receiving cells tinted, the padding ring
hatched) and the output (output_padding cells marked: "would have been cropped" versus "no
contribution (bias only)").

All text is English (``lang="en"``) or Simplified Chinese (``lang="zh"``, using a CJK font found by
matplotlib; without one a :class:`~convtranspose.render._style.MissingCJKFontWarning` is issued
and the picture is still written). SVG text stays text (``svg.fonttype = "none"``).

Examples
--------
>>> import tempfile, os
>>> from convtranspose.explain import explain
>>> trace = explain([[0, 1], [2, 3]], [[1.1, 2.2], [3.3, 4.4]])
>>> with tempfile.TemporaryDirectory() as folder:
...     render_figure(trace, "png", os.path.join(folder, "seed.png"))
...     os.path.getsize(os.path.join(folder, "seed.png")) > 10_000
True
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Union, cast

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..errors import ParameterError, ParameterTypeError
from ..explain.trace import (
    BiasStep,
    CellOrigin,
    CropStep,
    DilateKernelStep,
    FoldStep,
    FullCanvasStep,
    OutputPaddingStep,
    Problem,
    ScatterStep,
    Step,
    StepKind,
    Trace,
    as_grid,
)
from ..explain.limits import TooLargeToDrawError
from ..explain.views import MatrixView, OverlapView, PhaseView, ZeroInsertionView
from ._board import Board, LegendEntry, Outline, Panel, Symbol, TextStyle, draw_board, fit_layout
from ._style import COLORS, HATCH_CROPPED, LANGUAGES, cjk_font, fmt_index, fmt_number, fmt_tuple, font_family, text

__all__ = ["FORMATS", "GIF_VIEWS", "render_figure", "gif_frame_count", "cjk_font"]

#: File formats :func:`render_figure` writes.
FORMATS = ("png", "svg", "gif")
#: Explanation types that can be animated.
GIF_VIEWS = (Trace, ZeroInsertionView, PhaseView)

PNG_DPI = 110
MIN_CELL_PIXELS = 44  # PNG resolution is raised until a cell is at least this many pixels wide
GIF_DPI = 80
STEP_MS = 1300
HOLD_MS = 2600  # first and last frames
STORYBOARD_MAX_STEPS = 16
STORYBOARD_MAX_SIDE = 10


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def render_figure(explanation: object, fmt: str, path: str, lang: str = "en") -> None:
    """Draw ``explanation`` and write it to ``path`` as ``fmt`` ("png", "svg" or "gif").

    Parameters
    ----------
    explanation : Trace, ZeroInsertionView, MatrixView, PhaseView or OverlapView
        What :func:`convtranspose.explain.explain` returns for the chosen view.
    fmt : {"png", "svg", "gif"}
        Output format. GIF animates the steps of a trace, a zero-insertion view or a phase view.
    path : str
        File to write (overwritten).
    lang : {"en", "zh"}
        Language of every text in the picture.

    Raises
    ------
    ParameterError
        Unknown ``fmt`` or ``lang``, or ``fmt="gif"`` for a view without steps.
    ParameterTypeError
        ``explanation`` is not an explanation object.
    """
    fmt = _check_choice("fmt", fmt, FORMATS)
    lang = _check_choice("lang", lang, LANGUAGES)
    builder = _static_builder(explanation)
    family = font_family(lang)
    style = TextStyle(tuple(family), bold=family[0] == "DejaVu Sans")
    if fmt == "gif":
        frames = _frames(explanation, lang)
        _write_gif(frames, style, path)
        return
    board = builder(explanation, lang)
    layout = fit_layout([board], style)
    # Small cells (big problems) get a higher resolution, so the numbers stay readable when zoomed.
    dpi = max(PNG_DPI, min(220.0, MIN_CELL_PIXELS * 72.0 / layout.cell))
    figure = draw_board(board, layout, dpi=dpi)
    _save(figure, fmt, path, dpi)


def gif_frame_count(explanation: object) -> int:
    """Number of frames :func:`render_figure` writes for ``explanation`` with ``fmt="gif"``.

    Examples
    --------
    >>> from convtranspose.explain import explain
    >>> gif_frame_count(explain([[0, 1], [2, 3]], [[1.1, 2.2], [3.3, 4.4]], padding=1))
    7
    """
    if isinstance(explanation, Trace):
        return len(explanation.steps)
    if isinstance(explanation, ZeroInsertionView):
        return 1 + explanation.output.size
    if isinstance(explanation, PhaseView):
        return 1 + len(explanation.phases)
    raise _gif_unavailable(explanation, "en")


def _check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise ParameterTypeError(f"{name} must be a string, one of {', '.join(choices)}; got {value!r}")
    lowered = value.lower()
    if lowered not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(choices)}, got {name}={value!r}")
    return lowered


def _static_builder(explanation: object) -> Callable[[object, str], Board]:
    builders: list[tuple[type, Callable]] = [
        (Trace, _trace_board),
        (ZeroInsertionView, _zero_insertion_board),
        (MatrixView, _matrix_board),
        (PhaseView, _phase_board),
        (OverlapView, _overlap_board),
    ]
    for kind, builder in builders:
        if isinstance(explanation, kind):
            return builder
    raise ParameterTypeError(
        "render_figure needs an explanation from convtranspose.explain.explain() (Trace, ZeroInsertionView, "
        f"MatrixView, PhaseView or OverlapView), got {type(explanation).__name__}"
    )


#: The name a view has in ``explain(..., view=...)`` and in the CLI's ``--view``.
_VIEW_NAMES = {MatrixView: "matrix", OverlapView: "overlap"}


def _gif_unavailable(explanation: object, lang: str) -> ParameterError:
    name = _VIEW_NAMES.get(type(explanation), type(explanation).__name__)
    return ParameterError(text(lang, "gif_unavailable", view=name))


def _frames(explanation: object, lang: str) -> list[tuple[Board, int]]:
    """The GIF's frames as (board, duration in ms)."""
    if isinstance(explanation, Trace):
        boards = [_step_board(explanation, step, lang) for step in explanation.steps]
    elif isinstance(explanation, ZeroInsertionView):
        boards = _zero_insertion_frames(explanation, lang)
    elif isinstance(explanation, PhaseView):
        boards = _phase_frames(explanation, lang)
    else:
        raise _gif_unavailable(explanation, lang)
    durations = [STEP_MS] * len(boards)
    durations[0] = durations[-1] = HOLD_MS
    return list(zip(boards, durations))


# --------------------------------------------------------------------------------------------
# Writing files
# --------------------------------------------------------------------------------------------


def _save(figure: Figure, fmt: str, path: str, dpi: float) -> None:
    if fmt == "svg":
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "convtranspose"}):
            figure.savefig(path, format="svg", metadata={"Date": None})
    else:
        figure.savefig(path, format="png", dpi=dpi)


def _rgb_frame(figure: Figure) -> Any:
    from PIL import Image

    figure.canvas.draw()
    rgba = np.asarray(cast(Any, figure.canvas).buffer_rgba())  # an Agg canvas
    return Image.fromarray(rgba[..., :3].copy(), mode="RGB")


def _write_gif(frames: Sequence[tuple[Board, int]], style: TextStyle, path: str) -> None:
    """Draw every board with one shared layout and write them as a looping GIF.

    Consecutive frames always differ (each header names its step), so Pillow keeps every frame.
    """
    from PIL import Image

    boards = [board for board, _ms in frames]
    layout = fit_layout(boards, style)
    images = []
    for board in boards:
        figure = draw_board(board, layout, dpi=GIF_DPI)
        rgb = _rgb_frame(figure)
        images.append(rgb.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=[ms for _board, ms in frames],
        loop=0,
        disposal=1,
        optimize=False,
    )


# --------------------------------------------------------------------------------------------
# Shared panels
# --------------------------------------------------------------------------------------------


def _params_line(problem: Problem, lang: str) -> str:
    params = text(
        lang,
        "params",
        stride=fmt_tuple(problem.stride),
        padding=problem.padding_label,
        output_padding=fmt_tuple(problem.output_padding),
        dilation=fmt_tuple(problem.dilation),
    )
    if problem.padding_mode != "zeros":
        params += text(lang, "params_mode", mode=problem.padding_mode)
    shapes = text(
        lang,
        "shape_line",
        input_shape=fmt_tuple(problem.input.shape),
        full_shape=fmt_tuple(problem.full_shape),
        output_shape=fmt_tuple(problem.output_shape),
    )
    return f"{params}   ·   {shapes}"


def _grid_labels(values: np.ndarray, show: np.ndarray) -> np.ndarray:
    labels = np.vectorize(fmt_number, otypes=[object])(values)
    labels[~show] = ""
    return labels


def _input_panel(problem: Problem, lang: str, current: tuple[int, ...] | None = None) -> Panel:
    values = as_grid(problem.input)
    faces = np.full(values.shape, COLORS["input"], dtype=object)
    outlines = []
    bold = np.zeros(values.shape, dtype=bool)
    if current is not None:
        cell = _grid_index(current)
        faces[cell] = COLORS["input_current"]
        bold[cell] = True
        outlines.append(Outline(cell[0], cell[1], 1, 1, COLORS["outline"]))
    return Panel(values, title=text(lang, "input"), faces=faces, outlines=outlines, bold_labels=bold)


def _grid_index(index: Sequence[int]) -> tuple[int, int]:
    """A 1-d or 2-d index as a (row, col) cell of :func:`as_grid`."""
    return (0, int(index[0])) if len(index) == 1 else (int(index[0]), int(index[1]))


def _hole_mask(problem: Problem) -> np.ndarray:
    taps = np.zeros(problem.dilated_kernel.shape, dtype=bool)
    for tap in problem.taps:
        taps[problem.tap_position(tap)] = True
    return ~as_grid(taps)


def _kernel_panel(problem: Problem, lang: str, caption: str = "") -> Panel:
    values = as_grid(problem.dilated_kernel)
    holes = _hole_mask(problem)
    faces = np.where(holes, COLORS["hole"], COLORS["kernel"]).astype(object)
    dilated = any(d > 1 for d in problem.dilation)
    title = text(lang, "dilated_kernel", dilation=fmt_tuple(problem.dilation)) if dilated else text(lang, "kernel")
    return Panel(values, title=title, faces=faces, caption=caption)


def _window_outline(problem: Problem) -> list[Outline]:
    """The output window drawn on the full canvas (only when padding or output_padding move it)."""
    if not any(problem.padding) and not any(problem.output_padding):
        return []
    spans = [(g.padding, max(0, min(g.full, g.padding + g.output) - g.padding)) for g in problem.geometry]
    if problem.ndim == 1:
        spans.insert(0, (0, 1))
    (row, height), (col, width) = spans
    if height == 0 or width == 0:
        return []
    return [Outline(row, col, height, width, COLORS["window"], linewidth=2.0, linestyle="--")]


def _canvas_regions(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Grid masks over the full canvas: (cropped by padding, recovered by output_padding).

    "Recovered" cells lie in the ring padding removes but inside the output window, which
    output_padding extends at the end of each axis.
    """
    window = np.zeros(problem.full_shape, dtype=bool)
    window[tuple(slice(g.padding, min(g.full, g.padding + g.output)) for g in problem.geometry)] = True
    kept_by_crop = np.zeros(problem.full_shape, dtype=bool)
    kept_by_crop[tuple(slice(g.pad_before, max(g.pad_before, g.full - max(g.pad_after, 0))) for g in problem.geometry)] = True
    return as_grid(~kept_by_crop), as_grid(window & ~kept_by_crop)


def _output_origins(problem: Problem) -> np.ndarray:
    """CellOrigin of every output cell (``KEPT`` everywhere without output_padding), as a grid."""
    origins = np.empty(problem.output_shape, dtype=object)
    origins.fill(CellOrigin.KEPT)  # (np.full would turn the str-enum into a truncated string)
    for out_index in np.ndindex(*problem.output_shape):
        added = any(o >= g.output - extra for o, g, extra in zip(out_index, problem.geometry, problem.added))
        if added:
            inside = all(o + g.padding < g.full for o, g in zip(out_index, problem.geometry))
            origins[out_index] = CellOrigin.RECOVERED if inside else CellOrigin.BIAS_ONLY
    return as_grid(origins)


def _is_origin(origins: np.ndarray, origin: CellOrigin) -> np.ndarray:
    """Boolean mask of the cells of ``origins`` (an object array) equal to ``origin``."""
    return np.array([value is origin for value in origins.ravel()], dtype=bool).reshape(origins.shape)


def _output_panel(
    problem: Problem, values: np.ndarray, title: str, show: np.ndarray | None = None, padded: bool = True
) -> Panel:
    """The output grid; with ``padded``, output_padding's cells are coloured by origin, else left empty."""
    grid = as_grid(values)
    show = np.ones(grid.shape, dtype=bool) if show is None else show.copy()
    origins = _output_origins(problem)
    added = ~_is_origin(origins, CellOrigin.KEPT)
    faces = np.full(grid.shape, COLORS["output"], dtype=object)
    if padded:
        faces[_is_origin(origins, CellOrigin.RECOVERED)] = COLORS["recovered"]
        faces[_is_origin(origins, CellOrigin.BIAS_ONLY)] = COLORS["bias_only"]
    else:
        faces[added] = COLORS["canvas"]
        show &= ~added
    return Panel(grid, title=title, faces=faces, labels=_grid_labels(grid, show))


def _problem_legend(problem: Problem, lang: str, entries: Sequence[str]) -> list[LegendEntry]:
    """Legend entries among ``entries`` that apply to ``problem``."""
    origins = _output_origins(problem)
    cropping = any(before > 0 or after > 0 for before, after in problem.pads)
    applies = {
        "hole": any(d > 1 for d in problem.dilation),
        "cropped": cropping,
        "window": cropping or any(problem.added),
        "folded": problem.padding_mode != "zeros",
        "recovered": bool(_is_origin(origins, CellOrigin.RECOVERED).any()),
        "bias_only": bool(_is_origin(origins, CellOrigin.BIAS_ONLY).any()),
    }
    swatches = {
        "current_input": LegendEntry(
            text(lang, "legend_current_input"), COLORS["input_current"], edge=COLORS["outline"], linewidth=2.0
        ),
        "current_copy": LegendEntry(text(lang, "legend_current_copy"), "white", edge=COLORS["outline"], linewidth=2.0),
        "current": LegendEntry(text(lang, "legend_current"), COLORS["current"]),
        "reached": LegendEntry(text(lang, "legend_reached"), COLORS["reached"]),
        "copy": LegendEntry(text(lang, "legend_copy"), COLORS["current"]),
        "hole": LegendEntry(text(lang, "legend_hole"), COLORS["hole"]),
        "window": LegendEntry(text(lang, "legend_window"), "white", edge=COLORS["window"], linewidth=2.0),
        "cropped": LegendEntry(
            text(lang, "legend_cropped" if problem.padding_mode == "zeros" else "legend_border_folded"),
            COLORS["cropped"], hatch=HATCH_CROPPED,
        ),
        "recovered": LegendEntry(text(lang, "legend_recovered"), COLORS["recovered"]),
        "bias_only": LegendEntry(text(lang, "legend_bias_only"), COLORS["bias_only"]),
        "folded": LegendEntry(text(lang, "legend_folded"), COLORS["folded"]),
    }
    return [swatches[name] for name in entries if applies.get(name, True)]


# --------------------------------------------------------------------------------------------
# Trace: one board per step (GIF frames) and the storyboard (PNG/SVG)
# --------------------------------------------------------------------------------------------


def _region_outline(problem: Problem, region: Sequence[slice], linewidth: float = 2.5) -> Outline:
    spans = [(s.start, s.stop - s.start) for s in region]
    if problem.ndim == 1:
        spans.insert(0, (0, 1))
    (row, height), (col, width) = spans
    return Outline(row, col, height, width, COLORS["outline"], linewidth=linewidth)


def _canvas_panel(
    problem: Problem,
    values: np.ndarray,
    reached: np.ndarray,
    title: str,
    step: ScatterStep | None = None,
    cropped_shown: bool = True,
    padded_shown: bool = True,
) -> Panel:
    """The full canvas: numbers where something was added, the current copy outlined.

    ``cropped_shown`` hatches the ring padding removes; ``padded_shown`` then colours the part of
    it output_padding brings back.
    """
    grid = as_grid(values)
    reached_grid = as_grid(reached)
    cropped, recovered = _canvas_regions(problem)
    faces = np.full(grid.shape, COLORS["canvas"], dtype=object)
    faces[reached_grid] = COLORS["reached"]
    hatches = np.full(grid.shape, "", dtype=object)
    if cropped_shown:
        ring = cropped & ~recovered if padded_shown else cropped
        faces[ring] = COLORS["cropped"]
        hatches[ring] = HATCH_CROPPED
        if padded_shown:
            faces[recovered] = COLORS["recovered"]
    outlines = _window_outline(problem)
    if step is not None:
        for cell in step.cells:
            faces[_grid_index(cell)] = COLORS["current"]
        outlines.append(_region_outline(problem, step.region))
    return Panel(grid, title=title, faces=faces, hatches=hatches, labels=_grid_labels(grid, reached_grid), outlines=outlines)


def _step_header(trace: Trace, step: Step, lang: str) -> str:
    problem = trace.problem
    prefix = text(lang, "step", number=step.index + 1, total=len(trace.steps))
    if isinstance(step, DilateKernelStep):
        dilated = any(d > 1 for d in step.dilation)
        holes = fmt_tuple(tuple(d - 1 for d in step.dilation))
        sentence = text(lang, "s_dilate", dilation=fmt_tuple(step.dilation), holes=holes) if dilated else text(lang, "s_dilate_1")
    elif isinstance(step, ScatterStep):
        sentence = text(
            lang,
            "s_scatter",
            index=fmt_index(step.input_index),
            value=fmt_number(step.input_value),
            offset=fmt_tuple(step.offset),
            stride=fmt_tuple(problem.stride),
        )
    elif isinstance(step, FullCanvasStep):
        sentence = text(lang, "s_full", shape=fmt_tuple(problem.full_shape))
    elif isinstance(step, CropStep):
        kept = fmt_tuple(tuple(max(0, stop - start) for start, stop in step.kept))
        pads = tuple((start, full - stop) for (start, stop), full in zip(step.kept, problem.full_shape))
        if all(before == after for before, after in pads):
            symmetric = fmt_tuple(tuple(before for before, _ in pads))
            cells = text(lang, "s_crop_cells", p=symmetric)
            sentence = text(lang, "s_crop", padding=symmetric, padding_cells=cells, kept=kept)
        else:
            sentence = text(lang, "s_crop_pairs", pads=str(pads), kept=kept)
    elif isinstance(step, OutputPaddingStep):
        sentence = text(lang, "s_output_padding", output_padding=fmt_tuple(step.output_padding))
    elif isinstance(step, FoldStep):
        sentence = text(lang, f"s_fold_{step.padding_mode}", count=len(step.moves))
    else:
        sentence = text(lang, "s_bias", bias=fmt_number(step.bias))
    return f"{prefix}  ·  {sentence}"


def _reached_before(trace: Trace, count: int) -> np.ndarray:
    """Canvas cells that received a kernel tap in the first ``count`` scatter steps."""
    reached = np.zeros(trace.problem.full_shape, dtype=bool)
    for step in trace.scatter_steps[:count]:
        for cell in step.cells:
            reached[cell] = True
    return reached


def _step_board(trace: Trace, step: Step, lang: str) -> Board:
    """One GIF frame: input, kernel, canvas (running sum) and output as they are after ``step``.

    The crop ring appears from the crop step on, output_padding's cells from its step on.
    """
    problem = trace.problem
    scatter = trace.scatter_steps
    current = step if isinstance(step, ScatterStep) else None
    done = step.index > scatter[-1].index
    if current is not None:
        canvas, reached = current.running_sum, _reached_before(trace, current.number)
    elif done:
        canvas, reached = scatter[-1].running_sum, np.ones(problem.full_shape, dtype=bool)
    else:
        canvas, reached = np.zeros(problem.full_shape), np.zeros(problem.full_shape, dtype=bool)
    crop_step, padding_step = trace.step(StepKind.CROP), trace.step(StepKind.OUTPUT_PADDING)
    cropped_shown = crop_step is not None and step.index >= crop_step.index
    padded_shown = padding_step is None or step.index >= padding_step.index

    output_values = _window(problem, canvas)
    output_show = _window(problem, reached.astype(float)) > 0
    fold = _fold_of(trace)
    folded_shown = fold is not None and step.index >= fold.index
    if fold is not None and folded_shown:
        output_values = output_values + fold.added
    if isinstance(step, BiasStep):
        output_values = output_values + step.bias
        out_title = text(lang, "output_with_bias", bias=fmt_number(step.bias))
    elif problem.bias is not None:
        out_title = text(lang, "output_before_bias")
    else:
        out_title = text(lang, "output")
    caption = text(lang, "times_value", value=fmt_number(current.input_value)) if current else ""
    canvas_title = text(lang, "canvas_final") if done else text(lang, "canvas")
    row: list[Union[Panel, Symbol]] = [
        _input_panel(problem, lang, current.input_index if current else None),
        Symbol("×"),
        _kernel_panel(problem, lang, caption),
        Symbol("→"),
        _canvas_panel(problem, canvas, reached, canvas_title, current, cropped_shown, padded_shown),
        Symbol("→"),
    ]
    if fold is not None:  # every frame has the panel (one layout for the GIF), filled from the fold step on
        row += [_fold_panel(fold, lang, shown=folded_shown), Symbol("→")]
    row.append(_output_panel(problem, output_values, out_title, as_grid(output_show), padded=padded_shown))
    entries = ["current_input", "current_copy", "current", "reached", "hole", "window", "cropped", "recovered", "bias_only",
               "folded"]
    return Board(
        header=_step_header(trace, step, lang),
        subheader=_params_line(problem, lang),
        rows=[row],
        legend=_problem_legend(problem, lang, entries),
    )


def _window(problem: Problem, canvas: np.ndarray) -> np.ndarray:
    """The output window of a full-canvas array (cells past the canvas are zero)."""
    result = np.zeros(problem.output_shape)
    source = tuple(slice(g.padding, min(g.full, g.padding + g.output)) for g in problem.geometry)
    target = tuple(slice(0, max(0, s.stop - s.start)) for s in source)
    result[target] = canvas[source]
    return result


def _use_storyboard(trace: Trace) -> bool:
    problem = trace.problem
    return len(trace.scatter_steps) <= STORYBOARD_MAX_STEPS and max(problem.full_shape) <= STORYBOARD_MAX_SIDE


def _trace_board(trace: Trace, lang: str) -> Board:
    """PNG/SVG of a trace: the storyboard, or the last frame when a storyboard would be too big."""
    if not _use_storyboard(trace):
        board = _step_board(trace, trace.steps[-1], lang)
        board.header = text(lang, "storyboard_title")
        return board
    problem = trace.problem
    rows: list[list] = [[_input_panel(problem, lang), Symbol("×"), _kernel_panel(problem, lang)]]
    copies = [_copy_panel(problem, step, lang) for step in trace.scatter_steps]
    per_row = problem.input.shape[-1] if problem.ndim == 2 else 1  # 2-d: mirror the input; 1-d: stack
    for start in range(0, len(copies), per_row):
        row: list = []
        for k, panel in enumerate(copies[start : start + per_row]):
            row += [Symbol("+", hidden=start == k == 0), panel]
        rows.append(row)
    everything = np.ones(problem.full_shape, dtype=bool)
    final_canvas = _canvas_panel(problem, trace.scatter_steps[-1].running_sum, everything, text(lang, "canvas_final"))
    final_canvas.caption = text(lang, "sum_caption", count=len(copies))
    if problem.bias is not None:
        out_title = text(lang, "output_with_bias", bias=fmt_number(problem.bias))
    else:
        out_title = text(lang, "output")
    fold = _fold_of(trace)
    last: list[Panel | Symbol] = [Symbol("="), final_canvas, Symbol("→")]
    if fold is not None:
        last += [_fold_panel(fold, lang), Symbol("→")]
    rows.append(last + [_output_panel(problem, trace.output, out_title)])
    return Board(
        header=text(lang, "storyboard_title"),
        subheader=_params_line(problem, lang),
        rows=rows,
        legend=_problem_legend(problem, lang, ["copy", "hole", "window", "cropped", "recovered", "bias_only", "folded"]),
        footer=text(lang, "formula"),
    )


def _fold_of(trace: Trace) -> FoldStep | None:
    step = trace.step(StepKind.FOLD)
    return step if isinstance(step, FoldStep) else None


def _fold_panel(step: FoldStep, lang: str, shown: bool = True) -> Panel:
    """What the fold adds to each output cell: the border values it receives (the cells marked);
    blank before the fold step (``shown`` False)."""
    grid = as_grid(step.added)
    targets = np.zeros(step.added.shape, dtype=bool)
    for move in step.moves:
        targets[move.output_index] = True
    targets &= shown
    faces = np.where(as_grid(targets), COLORS["folded"], COLORS["output"] if shown else COLORS["canvas"]).astype(object)
    sources = ", ".join(f"{fmt_index(m.canvas_index)}→{fmt_index(m.output_index)}" for m in step.moves[:6])
    more = "" if len(step.moves) <= 6 else " …"
    return Panel(
        grid,
        title=text(lang, "fold_panel", mode=step.padding_mode),
        faces=faces,
        labels=_grid_labels(grid, as_grid(targets)),
        caption=sources + more if shown else "",
    )


def _copy_panel(problem: Problem, step: ScatterStep, lang: str) -> Panel:
    """One scaled kernel copy on an otherwise empty canvas (a storyboard cell)."""
    cells = np.zeros(problem.full_shape, dtype=bool)
    for cell in step.cells:
        cells[cell] = True
    grid = as_grid(step.contribution)
    faces = np.where(as_grid(cells), COLORS["current"], COLORS["canvas"]).astype(object)
    caption = text(
        lang,
        "contribution_caption",
        index=fmt_index(step.input_index),
        value=fmt_number(step.input_value),
        offset=fmt_tuple(step.offset),
    )
    return Panel(
        grid,
        faces=faces,
        labels=_grid_labels(grid, as_grid(cells)),
        outlines=[_region_outline(problem, step.region, linewidth=1.8)],
        caption=caption,
    )


# --------------------------------------------------------------------------------------------
# Alternate views
# --------------------------------------------------------------------------------------------


# Zero insertion ("conv" view) ---------------------------------------------------------------

#: Largest output the conv view animates (one frame per output cell).
MAX_CONV_GIF_CELLS = 100


def _padded_roles(view: ZeroInsertionView) -> tuple[np.ndarray, np.ndarray]:
    """Grid masks over ``view.padded``: (holds an input value, is an inserted zero); the rest is padding."""
    problem = view.problem
    axes_value, axes_inserted = [], []
    for axis, (length, before) in enumerate(zip(view.padded.shape, view.pad_before)):
        stride, inserted_length = problem.stride[axis], view.inserted.shape[axis]
        position = np.arange(length) - before  # index into `inserted`
        inside = (position >= 0) & (position < inserted_length)
        axes_value.append(inside & (position % stride == 0))
        axes_inserted.append(inside)
    value = _outer_and(axes_value)
    inside = _outer_and(axes_inserted)
    return as_grid(value), as_grid(inside & ~value)


def _outer_and(masks: Sequence[np.ndarray]) -> np.ndarray:
    """``result[i, j] = masks[0][i] & masks[1][j]`` (any number of axes)."""
    result = masks[0]
    for mask in masks[1:]:
        result = result[..., np.newaxis] & mask
    return result


def _zero_insertion_panels(view: ZeroInsertionView, lang: str, window: tuple[int, ...] | None = None, done: int | None = None) -> list:
    problem = view.problem
    inserted = as_grid(view.inserted)
    stride_mask = np.zeros(view.inserted.shape, dtype=bool)
    stride_mask[tuple(slice(None, None, s) for s in problem.stride)] = True
    inserted_faces = np.where(as_grid(stride_mask), COLORS["input"], COLORS["hole"]).astype(object)
    zeros = fmt_tuple(tuple(s - 1 for s in problem.stride))
    inserted_title = text(lang, "zi_inserted", zeros=zeros) if any(s > 1 for s in problem.stride) else text(lang, "zi_inserted_none")

    value, inserted_zero = _padded_roles(view)
    padded_faces = np.full(value.shape, COLORS["pad"], dtype=object)
    padded_faces[inserted_zero] = COLORS["hole"]
    padded_faces[value] = COLORS["input"]
    padded_hatches = np.where(value | inserted_zero, "", "..").astype(object)
    key = "zi_padded_crop" if view.crops else "zi_padded"
    padded_title = text(lang, key, before=fmt_tuple(view.pad_before), after=fmt_tuple(view.pad_after))
    padded = Panel(as_grid(view.padded), title=padded_title, faces=padded_faces, hatches=padded_hatches)

    output = as_grid(view.output)
    show = np.ones(output.shape, dtype=bool)
    output_faces = np.full(output.shape, COLORS["output"], dtype=object)
    if window is not None:
        cell = _grid_index(window)
        kernel_shape = as_grid(view.flipped_kernel).shape
        padded.outlines.append(Outline(cell[0], cell[1], kernel_shape[0], kernel_shape[1], COLORS["outline"]))
        output_faces[cell] = COLORS["current"]
    if done is not None:
        show = (np.arange(output.size) < done).reshape(output.shape)
    out_panel = Panel(output, title=text(lang, "output"), faces=output_faces, labels=_grid_labels(output, show))
    if window is not None:
        out_panel.outlines.append(Outline(*_grid_index(window), 1, 1, COLORS["outline"]))
    flipped = Panel(
        as_grid(view.flipped_kernel),
        title=text(lang, "zi_flipped"),
        faces=np.where(np.flip(_hole_mask(problem)), COLORS["hole"], COLORS["kernel"]).astype(object),
    )
    return [
        _input_panel(problem, lang),
        Symbol("→"),
        Panel(inserted, title=inserted_title, faces=inserted_faces),
        Symbol("→"),
        padded,
        Symbol("⋆", size=26.0),
        flipped,
        Symbol("="),
        out_panel,
    ]


def _zero_insertion_legend(view: ZeroInsertionView, lang: str, window: bool) -> list[LegendEntry]:
    entries = [
        LegendEntry(text(lang, "legend_input_value"), COLORS["input"]),
        LegendEntry(text(lang, "legend_inserted"), COLORS["hole"]),
        LegendEntry(text(lang, "legend_padding_zero"), COLORS["pad"], hatch=".."),
    ]
    if window:
        entries.append(LegendEntry(text(lang, "legend_window_cells"), "white", edge=COLORS["outline"], linewidth=2.0))
    return entries


def _zero_insertion_board(view: ZeroInsertionView, lang: str) -> Board:
    return Board(
        header=text(lang, "zi_title"),
        subheader=_params_line(view.problem, lang),
        rows=[_zero_insertion_panels(view, lang)],
        legend=_zero_insertion_legend(view, lang, window=False),
    )


def _zero_insertion_frames(view: ZeroInsertionView, lang: str) -> list[Board]:
    """An overview frame, then one frame per output cell with its window on the padded input."""
    if view.output.size > MAX_CONV_GIF_CELLS:
        raise TooLargeToDrawError(
            f"the conv view's GIF has one frame per output cell and is limited to {MAX_CONV_GIF_CELLS} "
            f"cells, got an output of shape {view.output.shape}; use fmt='png' or 'svg', or view='scatter'"
        )
    params = _params_line(view.problem, lang)
    legend = _zero_insertion_legend(view, lang, window=True)
    frames = [Board(header=text(lang, "zi_title"), subheader=params, rows=[_zero_insertion_panels(view, lang, done=0)], legend=legend)]
    for number, index in enumerate(np.ndindex(*view.output.shape), start=1):
        header = text(lang, "zi_step", index=fmt_index(index), value=fmt_number(float(view.output[index])))
        if view.problem.bias is not None:
            header += f"  (+ bias {fmt_number(view.problem.bias)})" if lang == "en" else f"（含偏置 {fmt_number(view.problem.bias)}）"
        rows = [_zero_insertion_panels(view, lang, window=index, done=number)]
        frames.append(Board(header=header, subheader=params, rows=rows, legend=legend))
    return frames


# Matrix view ------------------------------------------------------------------------------


def _matrix_board(view: MatrixView, lang: str) -> Board:
    problem = view.problem
    transposed = view.transposed
    faces = np.where(transposed != 0, COLORS["kernel"], COLORS["canvas"]).astype(object)
    labels = _grid_labels(transposed, transposed != 0)
    row_labels = [fmt_index(label) for label in view.output_labels]
    col_labels = [fmt_index(label) for label in view.input_labels]
    rows, cols = transposed.shape
    matrix = Panel(
        transposed,
        title=text(lang, "mx_matrix", rows=rows, cols=cols),
        faces=faces,
        labels=labels,
        row_labels=row_labels,
        col_labels=col_labels,
    )
    vector = Panel(
        view.input_vector[:, np.newaxis],
        title=text(lang, "mx_vector"),
        faces=np.full((cols, 1), COLORS["input"], dtype=object),
        row_labels=col_labels,
        col_labels=[""],
    )
    product = Panel(
        view.product[:, np.newaxis],
        title=text(lang, "mx_product"),
        faces=np.full((rows, 1), COLORS["output"], dtype=object),
        row_labels=row_labels,
        col_labels=[""],
    )
    out_title = text(lang, "mx_output", shape=fmt_tuple(problem.output_shape))
    if problem.bias is not None:
        out_title += f" + {fmt_number(problem.bias)}"
    output = Panel(as_grid(view.output), title=out_title, faces=np.full(as_grid(view.output).shape, COLORS["output"], dtype=object))
    return Board(
        header=text(lang, "mx_title"),
        subheader=_params_line(problem, lang),
        rows=[[_input_panel(problem, lang), Symbol("×"), _kernel_panel(problem, lang)], [matrix, Symbol("×"), vector, Symbol("="), product, Symbol("→"), output]],
        footer=text(lang, "mx_note"),
        max_grid_height=900.0,
    )


# Phase view -------------------------------------------------------------------------------

_PHASE_COLORS = ("#f9c784", "#9ecae1", "#a1d99b", "#d4b9da", "#fdd0a2", "#c7e9c0", "#fcbba1", "#dadaeb", "#bcbddc", "#fee391")


def _phase_color(number: int) -> str:
    return _PHASE_COLORS[number % len(_PHASE_COLORS)]


def _phase_map(view: PhaseView) -> np.ndarray:
    """Grid of phase numbers: which phase fills each output cell."""
    owner = np.zeros(view.problem.output_shape, dtype=int)
    for number, phase in enumerate(view.phases):
        if phase.values.size:
            owner[np.ix_(*phase.output_positions)] = number
    return as_grid(owner)


def _phase_output_panel(view: PhaseView, lang: str, shown: int | None = None, current: int | None = None) -> Panel:
    """The output coloured by phase; with ``shown``, only phases ``< shown`` have their numbers."""
    output = as_grid(view.output)
    owner = _phase_map(view)
    faces = np.vectorize(_phase_color, otypes=[object])(owner)
    show = np.ones(output.shape, dtype=bool) if shown is None else owner < shown
    if shown is not None:
        faces[~show & (owner != current)] = COLORS["canvas"]
    panel = Panel(output, title=text(lang, "ph_output"), faces=faces, labels=_grid_labels(output, show))
    if current is not None:
        panel.bold_labels = owner == current
    return panel


def _residue_label(residue: Sequence[int]) -> str:
    return fmt_tuple(residue)


def _phase_panels(view: PhaseView, number: int, lang: str) -> list:
    """[sub-kernel, ⋆ input, =, values] of one phase."""
    phase = view.phases[number]
    color = _phase_color(number)
    label = text(lang, "ph_phase", residue=_residue_label(phase.residue))
    if phase.empty or phase.values.size == 0:
        empty = Panel(np.zeros((1, 1)), title=label, faces=np.full((1, 1), COLORS["hole"], dtype=object), caption=text(lang, "ph_empty"), show_indices=False)
        return [empty]
    sub_kernel = as_grid(phase.sub_kernel)
    kernel_faces = np.where(sub_kernel != 0, color, COLORS["hole"]).astype(object)
    sub = Panel(sub_kernel, title=f"{label}: {text(lang, 'ph_sub_kernel')}", faces=kernel_faces)
    values = as_grid(phase.values)
    rows_labels = [str(o) for o in phase.output_positions[0]] if problem_is_2d(view) else None
    col_positions = phase.output_positions[-1]
    value_panel = Panel(
        values,
        title=text(lang, "ph_values") + " = " + text(lang, "ph_sub_kernel") + " ⋆ x",
        faces=np.full(values.shape, color, dtype=object),
        row_labels=rows_labels,
        col_labels=[str(o) for o in col_positions],
    )
    return [sub, Symbol("→"), value_panel]


def problem_is_2d(view: PhaseView) -> bool:
    return view.problem.ndim == 2


def _phase_kernel_panel(view: PhaseView, lang: str) -> Panel:
    """The kernel with every tap coloured by the phase it lands on."""
    kernel = as_grid(view.problem.kernel)
    faces = np.full(kernel.shape, COLORS["kernel"], dtype=object)
    for number, phase in enumerate(view.phases):
        for tap in phase.taps:
            faces[_grid_index(tap)] = _phase_color(number)
    return Panel(kernel, title=text(lang, "kernel"), faces=faces)


def _phase_board(view: PhaseView, lang: str) -> Board:
    problem = view.problem
    rows: list[list] = [[_input_panel(problem, lang), Symbol("×"), _phase_kernel_panel(view, lang)]]
    per_row = 2 if len(view.phases) > 1 else 1
    row: list = []
    for number in range(len(view.phases)):
        row += _phase_panels(view, number, lang)
        if len(row) and (number + 1) % per_row == 0:
            rows.append(row)
            row = []
        else:
            row.append(Symbol(" "))
    if row:
        rows.append(row[:-1] if isinstance(row[-1], Symbol) else row)
    rows.append([_phase_output_panel(view, lang)])
    return Board(
        header=text(lang, "ph_title", count=len(view.phases)),
        subheader=_params_line(problem, lang),
        rows=rows,
        footer=_phase_footer(view, lang),
    )


def _phase_footer(view: PhaseView, lang: str) -> str:
    lines = []
    for phase in view.phases:
        if phase.empty:
            lines.append(text(lang, "ph_step_empty", residue=_residue_label(phase.residue)))
        else:
            taps = " ".join(fmt_tuple(tap) if len(tap) > 1 else str(tap[0]) for tap in phase.taps)
            lines.append(
                text(
                    lang,
                    "ph_step",
                    residue=_residue_label(phase.residue),
                    taps=taps,
                    shape=fmt_tuple(phase.sub_kernel.shape),
                    stride=fmt_tuple(view.problem.stride),
                )
            )
    return "\n".join(lines)


def _phase_frames(view: PhaseView, lang: str) -> list[Board]:
    """An overview frame (the output's phase pattern), then one frame per phase."""
    problem = view.problem
    params = _params_line(problem, lang)
    head: list[Union[Panel, Symbol]] = [_input_panel(problem, lang), Symbol("×"), _phase_kernel_panel(view, lang)]
    placeholder = Panel(np.zeros((1, 1)), faces=np.full((1, 1), "white", dtype=object), labels=np.array([[""]], dtype=object), show_indices=False)
    frames = [
        Board(
            header=text(lang, "ph_title", count=len(view.phases)),
            subheader=params,
            rows=[head, [placeholder, Symbol("→"), placeholder], [_phase_output_panel(view, lang, shown=0)]],
        )
    ]
    for number, phase in enumerate(view.phases):
        panels = _phase_panels(view, number, lang)
        if len(panels) == 1:
            panels = [panels[0], Symbol("→"), placeholder]
        footer = _phase_footer(view, lang).split("\n")[number]
        frames.append(
            Board(
                header=f"{text(lang, 'step', number=number + 1, total=len(view.phases))}  ·  {footer}",
                subheader=params,
                rows=[head, panels, [_phase_output_panel(view, lang, shown=number + 1, current=number)]],
            )
        )
    return frames


# Overlap view -----------------------------------------------------------------------------


def _overlap_board(view: OverlapView, lang: str) -> Board:
    problem = view.problem
    counts = as_grid(view.counts)
    highest = max(int(counts.max()), 1)
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["Blues"]
    faces = np.vectorize(lambda c: to_hex(cmap(0.08 + 0.6 * c / highest)), otypes=[object])(counts)
    text_colors = np.where(counts > 0.75 * highest, "white", COLORS["text"]).astype(object)
    text_colors[counts == 0] = COLORS["muted"]
    count_panel = Panel(counts.astype(float), title=text(lang, "ov_counts"), faces=faces, text_colors=text_colors, labels=counts.astype(str).astype(object))
    output = as_grid(view.output)
    out_panel = Panel(output, title=text(lang, "ov_output"), faces=np.full(output.shape, COLORS["output"], dtype=object))
    lines = [text(lang, "ov_axis", axis=a, counts=fmt_tuple(axis.counts) if len(axis.counts) > 1 else f"({axis.counts[0]})") for a, axis in enumerate(view.axes)]
    lines.append(text(lang, "ov_even") if view.even else text(lang, "ov_uneven"))
    if view.gaps:
        lines.append(text(lang, "ov_gaps"))
    return Board(
        header=text(lang, "ov_title"),
        subheader=_params_line(problem, lang),
        rows=[[_input_panel(problem, lang), Symbol("×"), _kernel_panel(problem, lang)], [count_panel, Symbol("  "), out_panel]],
        footer="\n".join(lines),
    )
