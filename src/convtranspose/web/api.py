"""The JSON API of the web explainer: request parsing and the response, without any web framework.

Contract (version 1; kept stable, documented in ``docs/web-api.md``)::

    POST /api/explain
    {"input": [[0, 1], [2, 3]],          # 1-d list or 2-d list of rows (numbers)
     "kernel": [[1.1, 2.2], [3.3, 4.4]], # same rank as input
     "bias": null,                        # optional number
     "stride": 1,                         # int, or one int per dimension
     "padding": 0,                        # int, one int or [before, after] pair per dimension,
                                          #   or "valid" | "same" | "same_lower"
     "padding_mode": "zeros",             # zeros | circular | reflect | replicate
     "output_padding": 0, "dilation": 1,
     "view": "scatter",                   # scatter | conv | matrix | phase | overlap
     "lang": "en"}                        # en | zh

    200 -> {"output": [...], "output_shape": [...], "steps": [...], ...}   (see :func:`explain_payload`)
    4xx -> {"error": "<one sentence naming the parameter and the rule>"}

Every field but ``input`` and ``kernel`` is optional. Each field has its own parser in
:data:`FIELDS`, so a new field or a new form of one is one entry or one parser, not a
restructuring. A ``padding_mode`` other than ``"zeros"`` is shown by the scatter view (its fold
step); the other views answer 422 for it.

Everything the page shows is computed here, by the library's trace model and views
(:mod:`convtranspose.explain`); the page only draws it.

Examples
--------
>>> request = parse_request(b'{"input": [1, 2], "kernel": [1, 1, 1], "stride": 2}')
>>> payload = explain_payload(request)
>>> payload["output"], payload["output_shape"]
([1.0, 1.0, 3.0, 2.0, 2.0], [5])
>>> parse_request(b'{"input": [1, 2], "kernel": [1, "a"]}')
Traceback (most recent call last):
...
convtranspose.web.api.RequestError: kernel: every entry must be a number, got 'a'
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import numpy as np

from ..errors import ConvTransposeError
from ..i18n import LANGUAGES, localize_error, tr

__all__ = [
    "API_VERSION",
    "MAX_BODY_BYTES",
    "MAX_GRID_ELEMENTS",
    "FIELDS",
    "RequestError",
    "ExplainRequest",
    "parse_request",
    "parse_fields",
    "explain_payload",
    "error_payload",
    "respond",
    "PRESETS",
]

API_VERSION = 1
#: Larger request bodies are refused (413) before they are parsed.
MAX_BODY_BYTES = 64 * 1024
#: Grids with more elements are refused before any array is built (the explainer's own caps,
#: :mod:`convtranspose.explain.limits`, are smaller and give the precise message).
MAX_GRID_ELEMENTS = 4096
#: JSON nesting deeper than this is refused (a 2-d grid inside the request object is depth 3).
MAX_DEPTH = 8

VIEWS = ("scatter", "conv", "matrix", "phase", "overlap")
PER_DIMENSION = ("stride", "padding", "output_padding", "dilation")
PADDING_FORMS = ("valid", "same", "same_lower")
PADDING_MODES = ("zeros", "circular", "reflect", "replicate")


class RequestError(ValueError):
    """A bad request: the message names the field and the rule; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400, lang: str = "en") -> None:
        super().__init__(message)
        self.status = status
        #: The request's language when it could be read (the answer's error is worded in it).
        self.lang = lang


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

IntOrInts = Union[int, tuple[int, ...]]
#: ``padding`` as parsed: an int, per-dimension ints or ``(before, after)`` pairs, or a form's name.
PaddingValue = Union[int, str, tuple[Union[int, tuple[int, int]], ...]]


@dataclass(frozen=True)
class ExplainRequest:
    """A parsed request (types checked; the library checks the rules)."""

    input: Any
    kernel: Any
    bias: Optional[float] = None
    stride: IntOrInts = 1
    padding: PaddingValue = 0
    output_padding: IntOrInts = 0
    dilation: IntOrInts = 1
    padding_mode: str = "zeros"
    view: str = "scatter"
    lang: str = "en"
    extra: dict = field(default_factory=dict)

    def params(self) -> dict:
        """The hyper-parameters as keyword arguments of ``explain``."""
        return {name: getattr(self, name) for name in PER_DIMENSION + ("padding_mode",)}


def _reject_constant(name: str) -> float:
    raise RequestError(f"the body contains {name}, which JSON does not allow; send finite numbers only")


def _depth(value: object, limit: int) -> int:
    """Nesting depth of a JSON value, stopping (without recursion) as soon as it exceeds ``limit``."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
    return deepest


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{name}: every entry must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise RequestError(f"{name}: every entry must be a finite number, got {value!r}")
    return number


def _grid(value: object, name: str) -> list:
    """A non-empty 1-d list of numbers or a rectangular 2-d list of rows, as floats."""
    if not isinstance(value, list):
        raise RequestError(f"{name} must be a list of numbers (1-d) or a list of rows (2-d), got {type(value).__name__}")
    if not value:
        raise RequestError(f"{name} must not be empty")
    if len(value) > MAX_GRID_ELEMENTS:
        raise RequestError(f"{name} has {len(value)} entries; at most {MAX_GRID_ELEMENTS} are accepted", status=413)
    if not isinstance(value[0], list):
        return [_number(item, name) for item in value]
    width = len(value[0])
    if width == 0:
        raise RequestError(f"{name}: rows must not be empty")
    if len(value) * width > MAX_GRID_ELEMENTS:
        raise RequestError(
            f"{name} has {len(value)}x{width} entries; at most {MAX_GRID_ELEMENTS} are accepted", status=413
        )
    rows = []
    for r, row in enumerate(value):
        if not isinstance(row, list):
            raise RequestError(f"{name}: ragged grid (row {r} is a number, row 0 a list); give every row as a list")
        if len(row) != width:
            raise RequestError(f"{name}: ragged grid (row {r} has {len(row)} entries, row 0 has {width}); rows must be equally long")
        for item in row:
            if isinstance(item, list):
                raise RequestError(f"{name} must be 1-d or 2-d (one plane); got a deeper list in row {r}")
        rows.append([_number(item, name) for item in row])
    return rows


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise RequestError(f"{name} must be an int or a list of ints (one per dimension), got {value!r}")
    return value


def _ints(value: object, name: str) -> IntOrInts:
    """An int, or a list of 1 or 2 ints (one per dimension)."""
    if isinstance(value, list):
        if not 1 <= len(value) <= 2:
            raise RequestError(f"{name} must be an int or a list of 1 or 2 ints (one per dimension), got {len(value)} values")
        return tuple(_int(item, name) for item in value)
    return _int(value, name)


def _padding(value: object, name: str) -> PaddingValue:
    """``padding``: an int; per dimension an int or a ``[before, after]`` pair; or a form's name."""
    if isinstance(value, str):
        if value not in PADDING_FORMS:
            raise RequestError(
                f"{name} must be an int, a list of ints or [before, after] pairs (one per dimension), or one of "
                f"{', '.join(repr(form) for form in PADDING_FORMS)}; got {value!r}"
            )
        return value
    if not isinstance(value, list):
        return _int(value, name)
    if not 1 <= len(value) <= 2:
        raise RequestError(
            f"{name} must be an int or a list of 1 or 2 entries (one per dimension), got {len(value)} values"
        )
    entries: list[Union[int, tuple[int, int]]] = []
    for item in value:
        if isinstance(item, list):
            if len(item) != 2:
                raise RequestError(f"{name}: a [before, after] pair has 2 entries, got {item!r}")
            entries.append((_int(item[0], name), _int(item[1], name)))
        else:
            entries.append(_int(item, name))
    return tuple(entries)


def _bias(value: object, name: str) -> Optional[float]:
    return None if value is None else _number(value, name)


def _choice(options: tuple[str, ...]) -> Callable[[object, str], str]:
    def parse(value: object, name: str) -> str:
        if not isinstance(value, str) or value not in options:
            raise RequestError(f"{name} must be one of {', '.join(options)}, got {value!r}")
        return value

    return parse


#: One parser per request field: ``parser(value, field_name) -> parsed value``.
FIELDS: dict[str, Callable[[object, str], object]] = {
    "input": _grid,
    "kernel": _grid,
    "bias": _bias,
    "stride": _ints,
    "padding": _padding,
    "output_padding": _ints,
    "dilation": _ints,
    "padding_mode": _choice(PADDING_MODES),
    "view": _choice(VIEWS),
    "lang": _choice(LANGUAGES),
}
REQUIRED = ("input", "kernel")


def parse_fields(data: object) -> ExplainRequest:
    """Check a decoded JSON value field by field (see :data:`FIELDS`)."""
    if not isinstance(data, dict):
        raise RequestError(f"the body must be a JSON object like {{\"input\": [...], \"kernel\": [...]}}, got a {type(data).__name__}")
    if _depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise RequestError(f"the body is nested more than {MAX_DEPTH} levels deep; input and kernel are at most 2-d")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise RequestError(f"unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS)}")
    for name in REQUIRED:
        if name not in data:
            raise RequestError(f"{name} is required (a list of numbers or a list of rows)")
    lang = data.get("lang")
    lang = lang if isinstance(lang, str) and lang in LANGUAGES else "en"
    try:
        values = {name: FIELDS[name](value, name) for name, value in data.items()}
    except RequestError as exc:
        exc.lang = lang
        raise
    return ExplainRequest(**values)  # type: ignore[arg-type]


def parse_request(body: bytes) -> ExplainRequest:
    """Decode and check a request body; raises :class:`RequestError` (with its HTTP status)."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"the body has {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted", status=413)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("the body must be UTF-8 encoded JSON") from None
    if not text.strip():
        raise RequestError("the body is empty; send a JSON object with at least input and kernel")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise RequestError(f"the body is nested too deeply; input and kernel are at most 2-d") from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"the body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    return parse_fields(data)


# --------------------------------------------------------------------------------------------
# Response
# --------------------------------------------------------------------------------------------


def _list(array: np.ndarray) -> list:
    """An array as nested lists of plain floats."""
    return np.asarray(array, dtype=np.float64).tolist()


def _cells(cells: Any) -> list:
    return [list(map(int, cell)) for cell in cells]


def _step_json(step: Any, problem: Any, lang: str) -> dict:
    from ..explain import BiasStep, CropStep, DilateKernelStep, FoldStep, FullCanvasStep, OutputPaddingStep, ScatterStep
    from ..render.text import step_caption

    title, notes = step_caption(step, problem, lang)
    data: dict[str, Any] = {"index": step.index, "kind": step.kind.value, "title": title, "notes": notes}
    if isinstance(step, DilateKernelStep):
        data.update(dilated=_list(step.dilated), taps=_cells(step.tap_positions))
    elif isinstance(step, ScatterStep):
        data.update(
            number=step.number,
            input_index=list(step.input_index),
            input_value=step.input_value,
            offset=list(step.offset),
            cells=_cells(step.cells),
            canvas=_list(step.running_sum),
        )
    elif isinstance(step, FullCanvasStep):
        data.update(canvas=_list(step.canvas))
    elif isinstance(step, CropStep):
        data.update(kept=[list(k) for k in step.kept], removed=step.removed.tolist(), cropped=_list(step.cropped))
    elif isinstance(step, OutputPaddingStep):
        data.update(
            added=[[r.start, r.stop] for r in step.added],
            cells=[
                {"output_index": list(c.output_index), "canvas_index": list(c.canvas_index), "origin": c.origin.value}
                for c in step.cells
            ],
            result=_list(step.result),
        )
    elif isinstance(step, FoldStep):
        data.update(
            padding_mode=step.padding_mode,
            pads=[list(pair) for pair in step.pads],
            moves=[
                {"canvas_index": list(m.canvas_index), "output_index": list(m.output_index), "value": m.value}
                for m in step.moves
            ],
            added=_list(step.added),
            before=_list(step.before),
            result=_list(step.after),
        )
    elif isinstance(step, BiasStep):
        data.update(bias=step.bias, result=_list(step.after))
    return data


def _canvas_terms(trace: Any) -> dict:
    """Per full-canvas cell, the ``(input index, tap)`` pairs the scatter steps wrote into it."""
    terms: dict = {}
    for step in trace.scatter_steps:
        for cell, tap in zip(step.cells, trace.problem.taps):
            terms.setdefault(tuple(cell), []).append((tuple(step.input_index), tuple(tap)))
    return terms


def _fold_targets(trace: Any) -> dict:
    """Border canvas cell -> the output cell the fold adds it onto (empty for padding_mode zeros)."""
    from ..explain import FoldStep

    return {
        tuple(m.canvas_index): tuple(m.output_index)
        for step in trace.steps
        if isinstance(step, FoldStep)
        for m in step.moves
    }


def _terms_json(trace: Any) -> list:
    """Per output cell (C order): its ``x[i] * K[t]`` terms, each with the canvas cell it was written
    to (the cell's own canvas position, or a border cell folded onto it), the products and their sum."""
    problem = trace.problem
    xs = {index: float(v) for index, v in np.ndenumerate(problem.input)}
    ks = {index: float(v) for index, v in np.ndenumerate(problem.kernel)}
    by_canvas = _canvas_terms(trace)
    folded: dict = {}
    for canvas_cell, output_cell in _fold_targets(trace).items():
        folded.setdefault(output_cell, []).append(canvas_cell)
    output = np.asarray(trace.output, dtype=np.float64).reshape(problem.output_shape)
    cells = []
    for cell in np.ndindex(*problem.output_shape):
        canvas = tuple(o + g.pad_before for o, g in zip(cell, problem.geometry))
        sources = [(canvas, False)] + [(c, True) for c in folded.get(cell, [])]
        terms = [
            {"input_index": list(e), "tap": list(t), "x": xs[e], "k": ks[t], "product": xs[e] * ks[t],
             "canvas": list(source), "folded": is_folded}
            for source, is_folded in sources
            for e, t in by_canvas.get(source, [])
        ]
        cells.append({"cell": list(cell), "canvas": list(canvas), "terms": terms, "value": float(output[cell])})
    return cells


def _landings_json(trace: Any) -> list:
    """Per input element (C order): the output cell each of its kernel copy's cells ends up in: its
    window position, or for a padding mode the cell the fold adds it onto; None when cropped."""
    problem = trace.problem
    targets = _fold_targets(trace)
    landings = []
    for step in trace.scatter_steps:
        out = []
        for cell, tap in zip(step.cells, problem.taps):
            position = tuple(c - g.pad_before for c, g in zip(cell, problem.geometry))
            inside = all(0 <= p < g.output for p, g in zip(position, problem.geometry))
            target = position if inside else targets.get(tuple(cell))
            out.append({
                "canvas": list(cell),
                "output": list(target) if target is not None else None,
                "folded": not inside and target is not None,
                "tap": list(tap),
            })
        landings.append({"input_index": list(step.input_index), "value": step.input_value, "cells": out})
    return landings


def _view_json(explanation: Any) -> dict:
    from ..explain import MatrixView, OverlapView, PhaseView, ZeroInsertionView

    if isinstance(explanation, ZeroInsertionView):
        return {
            "inserted": _list(explanation.inserted),
            "pad_before": list(explanation.pad_before),
            "pad_after": list(explanation.pad_after),
            "padded": _list(explanation.padded),
            "kernel": _list(explanation.kernel),
            "flipped_kernel": _list(explanation.flipped_kernel),
            "output": _list(explanation.output),
        }
    if isinstance(explanation, MatrixView):
        return {
            "transposed": _list(explanation.transposed),
            "input_labels": [list(label) for label in explanation.input_labels],
            "output_labels": [list(label) for label in explanation.output_labels],
            "input_vector": _list(explanation.input_vector),
            "product": _list(explanation.product),
            "output": _list(explanation.output),
        }
    if isinstance(explanation, PhaseView):
        return {
            "phases": [
                {
                    "residue": list(p.residue),
                    "taps": _cells(p.taps),
                    "sub_kernel": _list(p.sub_kernel),
                    "output_positions": [list(axis) for axis in p.output_positions],
                    "values": _list(p.values),
                }
                for p in explanation.phases
            ],
            "output": _list(explanation.output),
        }
    if isinstance(explanation, OverlapView):
        return {
            "counts": explanation.counts.tolist(),
            "axis_counts": [list(axis.counts) for axis in explanation.axes],
            "even": explanation.even,
            "gaps": explanation.gaps,
            "output": _list(explanation.output),
        }
    return {"output": _list(explanation.output)}


def _code(problem: Any, bias: Optional[float]) -> dict:
    """PyTorch and convtranspose code that computes the same output.

    PyTorch's ``conv_transpose*d`` has only symmetric int padding and no padding mode, so for the
    other settings the PyTorch code spells out what convtranspose does: the full canvas cropped by
    ``F.pad`` with negative widths (positive widths append output_padding cells), or, for a padding
    mode, the definition itself -- the vector-Jacobian product of ``conv*d(F.pad(z, pads, mode), w)``.
    """
    spec = problem.spec
    ndim = problem.ndim
    x = _list(problem.input)
    k = _list(problem.kernel)
    shape_note = f"(N=1, C_in=1, *{list(problem.input.shape)})"
    kernel_note = f"(C_in=1, C_out=1, *{list(problem.kernel.shape)})"
    ours = {
        "stride": _py(spec.stride),
        "padding": _padding_py(problem.padding),
        "output_padding": _py(spec.output_padding),
        "dilation": _py(spec.dilation),
    }
    if spec.padding_mode != "zeros":
        ours["padding_mode"] = repr(spec.padding_mode)
    bias_np = f"np.array([{bias!r}])" if bias is not None else "None"
    numpy_code = (
        "import numpy as np\n"
        f"from convtranspose import conv_transpose{ndim}d\n\n"
        f"x = np.array([[{x!r}]])  # {shape_note}\n"
        f"w = np.array([[{k!r}]])  # {kernel_note}\n"
        f"y = conv_transpose{ndim}d(x, w, {bias_np}, {', '.join(f'{n}={v}' for n, v in ours.items())})\n"
        "print(y[0, 0])\n"
    )
    head = (
        "import torch\n"
        "import torch.nn.functional as F\n\n"
        f"x = torch.tensor([[{x!r}]], dtype=torch.float64)  # {shape_note}\n"
        f"w = torch.tensor([[{k!r}]], dtype=torch.float64)  # {kernel_note}\n"
    )
    bias_torch = f"torch.tensor([{bias!r}], dtype=torch.float64)" if bias is not None else "None"
    add_bias = f"y = y + {bias!r}  # the bias\n" if bias is not None else ""
    common = f"stride={_py(spec.stride)}, dilation={_py(spec.dilation)}"
    pads = [(g.pad_before, g.pad_after) for g in problem.geometry]
    if spec.padding_mode != "zeros":
        # F.pad lists (before, after) from the last axis to the first; the border a negative 'same'
        # crop leaves at the end is output padding, which the paired convolution never reads.
        widths = [w for b, a in reversed(pads) for w in (b, max(a, 0))]
        limit = ", ".join(f":{n}" for n in problem.input.shape)
        body = (
            f"# PyTorch's conv_transpose{ndim}d has no padding_mode: this is its definition, the adjoint of\n"
            f"# conv{ndim}d(F.pad(z, {widths}, mode={spec.padding_mode!r}), w), computed by autograd.\n"
            f"z = torch.zeros(1, 1, *{list(problem.output_shape)}, dtype=torch.float64, requires_grad=True)\n"
            f"conv = F.conv{ndim}d(F.pad(z, {widths}, mode={spec.padding_mode!r}), w, {common})\n"
            f"(y,) = torch.autograd.grad(conv[..., {limit}], z, grad_outputs=x)\n"
            + add_bias
        )
    elif not isinstance(problem.padding, str) and all(isinstance(p, int) for p in problem.padding):
        body = (
            f"y = F.conv_transpose{ndim}d(x, w, {bias_torch}, stride={_py(spec.stride)}, "
            f"padding={_py(tuple(b for b, _ in pads))}, output_padding={_py(spec.output_padding)}, "
            f"dilation={_py(spec.dilation)})\n"
        )
    else:
        # Negative widths crop, positive ones append zero cells (output_padding past the canvas).
        widths = [w for (b, a), op in reversed(list(zip(pads, spec.output_padding))) for w in (-b, op - a)]
        body = (
            f"# PyTorch's padding is symmetric: take the full canvas and crop (before, after) = {pads}\n"
            f"y = F.conv_transpose{ndim}d(x, w, None, {common})\n"
            f"y = F.pad(y, {widths})  # negative widths crop, positive ones add output_padding cells\n"
            + add_bias
        )
    return {"pytorch": head + body + "print(y[0, 0])\n", "convtranspose": numpy_code}


def _py(values: tuple[int, ...]) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


def _padding_py(padding: Any) -> str:
    """``padding`` as the user gave it, as Python source."""
    if isinstance(padding, str):
        return repr(padding)
    if all(isinstance(p, int) for p in padding):
        return _py(tuple(padding))
    return repr(tuple(p if isinstance(p, int) else tuple(p) for p in padding))


def _padding_json(padding: Any) -> Any:
    """``padding`` as the user gave it, as JSON: a form's name, or per dimension an int or a pair."""
    return padding if isinstance(padding, str) else [p if isinstance(p, int) else list(p) for p in padding]


def explain_payload(request: ExplainRequest) -> dict:
    """The 200 response: everything the page draws, computed by the trace model and the views.

    Keys: ``api_version``, ``ndim``, ``lang``, ``view``, ``input``, ``kernel``, ``bias``,
    ``params`` (per-dimension lists; ``padding`` as given: per-dimension ints or ``[before, after]``
    pairs, or a form's name; ``pads``: the resolved pairs; ``padding_mode``), ``geometry`` (per
    axis: input, kernel, stride, padding (the crop at the start), pad_before, pad_after,
    output_padding, dilation, full, output), ``formula`` (text lines with the numbers plugged
    in), ``output``, ``output_shape``, ``full_shape``, ``matches_reference``, ``steps`` (the
    scatter trace: kind, title, notes and that step's grids), ``terms`` (per output cell, its
    ``x * K`` terms and their sum), ``landings`` (per input element, where its copy lands),
    ``view_data`` (the requested view's grids), ``text`` (the view as the CLI prints it),
    ``code`` (``pytorch`` and ``convtranspose`` snippets).

    Raises the library's errors (:class:`~convtranspose.errors.ConvTransposeError`) for invalid
    settings; :func:`respond` turns them into a 422 answer.
    """
    from ..explain import Trace, explain, trace_problem
    from ..render.text import formula_lines, render_text

    with np.errstate(all="ignore"):
        explanation = explain(
            request.input, request.kernel, request.bias, view=request.view, **request.params()
        )
        problem = explanation.problem
        trace = explanation if isinstance(explanation, Trace) else trace_problem(problem)
        steps = [_step_json(step, problem, request.lang) for step in trace.steps]
        payload = {
            "api_version": API_VERSION,
            "ndim": problem.ndim,
            "lang": request.lang,
            "view": request.view,
            "input": _list(problem.input),
            "kernel": _list(problem.kernel),
            "bias": problem.bias,
            "params": {
                "stride": list(problem.spec.stride),
                "padding": _padding_json(problem.padding),
                "output_padding": list(problem.spec.output_padding),
                "dilation": list(problem.spec.dilation),
                "padding_mode": problem.padding_mode,
                "pads": [list(pair) for pair in problem.pads],
            },
            "geometry": [
                {
                    "input": g.input_size,
                    "kernel": g.kernel_size,
                    "stride": g.stride,
                    "padding": g.pad_before,
                    "pad_before": g.pad_before,
                    "pad_after": g.pad_after,
                    "output_padding": g.output_padding,
                    "dilation": g.dilation,
                    "full": g.full,
                    "output": g.output,
                }
                for g in problem.geometry
            ],
            "formula": [line.strip() for line in formula_lines(problem.geometry, request.lang, problem.spec.padding_form)],
            "output": _list(trace.output),
            "output_shape": list(problem.output_shape),
            "full_shape": list(problem.full_shape),
            "matches_reference": bool(trace.matches_reference and explanation.matches_reference),
            "steps": steps,
            "terms": _terms_json(trace),
            "landings": _landings_json(trace),
            "view_data": _view_json(explanation),
            "text": render_text(explanation, lang=request.lang, detail="auto"),
            "code": _code(problem, problem.bias),
        }
    return payload


def error_payload(message: str, lang: str = "en") -> dict:
    """The 4xx body: ``{"error": message}`` (one line, in ``lang`` when the rule is in the
    catalogue of :func:`~convtranspose.i18n.localize_error`), ``error_label`` (the localised
    prefix) and, when the message was re-worded, the English original as ``error_en``."""
    original = " ".join(message.split())
    payload = {"error": localize_error(original, lang), "error_label": tr(lang, "error_prefix").strip(" :：")}
    if payload["error"] != original:
        payload["error_en"] = original
    return payload


def respond(body: bytes) -> tuple[int, dict]:
    """Status and JSON body for one ``POST /api/explain`` body: 200, or 4xx with ``error``.

    Never raises for a bad request: parse errors are 400 (413 for sizes), rule violations of the
    library 422.

    Examples
    --------
    >>> respond(b'{"input": [1], "kernel": [1], "stride": 0}')[0]
    422
    >>> respond(b'[1, 2')[1]["error"]
    "the body is not valid JSON (Expecting ',' delimiter at line 1, column 6)"
    """
    lang = "en"
    try:
        request = parse_request(body)
        lang = request.lang
        return 200, explain_payload(request)
    except RequestError as exc:
        return exc.status, error_payload(str(exc), exc.lang)
    except ConvTransposeError as exc:
        return 422, error_payload(str(exc), lang)


#: Settings of the page's preset menu (the seed examples, three classic layers, the padding forms and a mode).
PRESETS: tuple[dict, ...] = (
    {"id": "seed", "input": [[0, 1], [2, 3]], "kernel": [[1.1, 2.2], [3.3, 4.4]]},
    {"id": "seed_stride12", "input": [[0, 1], [2, 3]], "kernel": [[1.1, 2.2], [3.3, 4.4]], "stride": [1, 2]},
    {"id": "seed_dilation2", "input": [[0, 1], [2, 3]], "kernel": [[1.1, 2.2], [3.3, 4.4]], "dilation": 2},
    {"id": "seed_padding1", "input": [[0, 1], [2, 3]], "kernel": [[1.1, 2.2], [3.3, 4.4]], "padding": 1},
    {
        "id": "seed_output_padding",
        "input": [[0, 1], [2, 3]],
        "kernel": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        "stride": 2,
        "padding": 1,
        "output_padding": 1,
    },
    {"id": "dcgan", "input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[1] * 4] * 4, "stride": 2, "padding": 1},
    {"id": "unet", "input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[1, 2], [3, 4]], "stride": 2},
    {"id": "checkerboard", "input": [[1] * 4] * 4, "kernel": [[1] * 3] * 3, "stride": 2},
    {"id": "one_d", "input": [1, 2, 3], "kernel": [1, 10, 100], "stride": 2, "padding": 1, "output_padding": 1},
    {"id": "same", "input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[1, 2, 1], [2, 4, 2], [1, 2, 1]], "stride": 2,
     "padding": "same"},
    {"id": "asymmetric", "input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[1.1, 2.2], [3.3, 4.4]], "stride": 2,
     "padding": [[1, 2], [0, 1]]},
    {"id": "reflect", "input": [1, 2, 3, 4], "kernel": [1, 10, 100], "padding": 1, "padding_mode": "reflect"},
)
