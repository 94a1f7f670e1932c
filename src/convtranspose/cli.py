"""Command-line interface: ``convtranspose explain | shape | solve | bench``.

``convtranspose explain`` with no options prints the full step-by-step trace of the seed example
(input ``[[0, 1], [2, 3]]``, kernel ``[[1.1, 2.2], [3.3, 4.4]]``, stride 1). Every error is one
line on stderr and a non-zero exit status (2), never a traceback.

Examples
--------
>>> main(["shape", "--in", "16", "--kernel-size", "4", "--stride", "2", "--padding", "1"])  # doctest: +ELLIPSIS
Output size of the transposed convolution
...
output size: 32
0
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from math import prod
from typing import Any, Optional, Sequence, TextIO

import numpy as np

from .errors import ConvTransposeError
from .explain import (
    MAX_INPUT_ELEMENTS,
    MAX_KERNEL_SIDE,
    VIEWS,
    SolveBounds,
    TooLargeToDrawError,
    caps_summary,
    channel_summary,
    explain,
    solve,
)
from .explain.i18n import LANGUAGES, tr
from .padding import PADDING_MODES
from .render.text import render_shape, render_solve, render_text
from .shape import geometries, spatial_output_shape
from .spec import make_spec

__all__ = ["main", "build_parser", "SEED_INPUT", "SEED_KERNEL"]

PROG = "convtranspose"
SEED_INPUT = [[0.0, 1.0], [2.0, 3.0]]
SEED_KERNEL = [[1.1, 2.2], [3.3, 4.4]]
FORMATS = ("text", "png", "svg", "gif")


class UsageError(Exception):
    """A bad command line (reported as one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------------------------
# Parsing values
# --------------------------------------------------------------------------------------------


def _nested_numbers(node: object, name: str, depth: int = 0) -> object:
    """Check a literal is a (nested) list of real numbers; return it with tuples as lists."""
    if isinstance(node, bool) or (not isinstance(node, (int, float, list, tuple))):
        raise UsageError(f"{name}: every entry must be a number, got {node!r}")
    if isinstance(node, (list, tuple)):
        if not node:
            raise UsageError(f"{name}: empty list")
        items = [_nested_numbers(item, name, depth + 1) for item in node]
        kinds = {isinstance(item, list) for item in items}
        if len(kinds) > 1:
            raise UsageError(f"{name}: ragged list (numbers and lists mixed at the same level)")
        if kinds == {True} and len({_shape_of(item) for item in items}) > 1:
            raise UsageError(f"{name}: ragged list (rows have different lengths)")
        return items
    return node


def _shape_of(node: object) -> tuple[int, ...]:
    return (len(node),) + _shape_of(node[0]) if isinstance(node, list) else ()


def parse_array(text: str, name: str) -> np.ndarray:
    """A JSON-like nested list (``[[0,1],[2,3]]``) as a float64 array, or a one-line UsageError."""
    try:
        literal = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise UsageError(f"{name}: expected a nested list of numbers like [[0, 1], [2, 3]], got {text!r}") from None
    if not isinstance(literal, (list, tuple)):
        raise UsageError(f"{name}: expected a list of numbers (1-d) or a list of rows (2-d), got {text!r}")
    values = _nested_numbers(literal, name)
    return np.asarray(values, dtype=np.float64)


def parse_ints(text: str, name: str) -> tuple[int, ...]:
    """``"2"`` -> ``(2,)``, ``"1,2"`` or ``"(1, 2)"`` -> ``(1, 2)``; anything else is a UsageError."""
    cleaned = text.strip().strip("()[]")
    parts = [part.strip() for part in cleaned.split(",")] if cleaned else []
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        values = ()
    if not values:
        raise UsageError(f"{name}: expected an int or comma-separated ints like 1,2, got {text!r}")
    return values


def parse_padding(text: str) -> Any:
    """``--padding``: ``same``, ``same_lower``, ``valid``, ints like ``1`` or ``1,2``, or per-dimension
    ``before:after`` pairs like ``1:2,0:1`` (a plain int in a list is symmetric: ``1,0:2``).

    Examples
    --------
    >>> parse_padding("1:2,0:1"), parse_padding("same"), parse_padding("1,2")
    (((1, 2), (0, 1)), 'same', (1, 2))
    """
    cleaned = text.strip()
    if cleaned.isalpha() or "_" in cleaned:
        return cleaned  # a form's name: the library validates it
    if ":" not in cleaned:
        return _per_dim(parse_ints(text, "--padding"))
    entries = []
    for part in cleaned.strip("()[]").split(","):
        pieces = part.split(":")
        try:
            numbers = tuple(int(p) for p in pieces)
        except ValueError:
            numbers = ()
        if len(numbers) not in (1, 2):
            raise UsageError(f"--padding: expected ints, before:after pairs like 1:2,0:1, or same/same_lower/valid, got {text!r}")
        entries.append(numbers if len(numbers) == 2 else (numbers[0], numbers[0]))
    return tuple(entries)


def _per_dim(values: tuple[int, ...]) -> object:
    """A single value applies to every dimension; several are per dimension."""
    return values[0] if len(values) == 1 else values


def _generated(shape: tuple[int, ...], name: str, first: float, step: float) -> np.ndarray:
    if any(s < 1 for s in shape) or len(shape) not in (1, 2):
        raise UsageError(f"{name}: expected 1 or 2 positive sizes like 3 or 3,3, got {shape}")
    return np.round(first + step * np.arange(prod(shape), dtype=np.float64), 10).reshape(shape)


def _operands(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    if args.input is not None and args.size is not None:
        raise UsageError("give either --input or --size, not both")
    if args.kernel is not None and args.kernel_size is not None:
        raise UsageError("give either --kernel or --kernel-size, not both")
    if args.size is not None:
        size = parse_ints(args.size, "--size")
        if prod(size) > MAX_INPUT_ELEMENTS:
            raise TooLargeToDrawError(
                f"--size {args.size} has {prod(size)} elements; the explainer draws at most {MAX_INPUT_ELEMENTS}"
            )
        x = _generated(size, "--size", 0.0, 1.0)
    elif args.input is not None:
        x = parse_array(args.input, "--input")
    else:
        x = np.array(SEED_INPUT)
    if args.kernel_size is not None:
        ksize = parse_ints(args.kernel_size, "--kernel-size")
        if max(ksize) > MAX_KERNEL_SIDE:
            raise TooLargeToDrawError(f"--kernel-size {args.kernel_size} is too large to draw; at most {MAX_KERNEL_SIDE} per side")
        k = _generated(ksize, "--kernel-size", 1.1, 1.1)
    elif args.kernel is not None:
        k = parse_array(args.kernel, "--kernel")
    else:
        k = np.array(SEED_KERNEL) if x.ndim == 2 else _generated((2,) * max(1, x.ndim), "--kernel", 1.1, 1.1)
    return x, k


def _use_color(choice: str, stream: TextIO, to_file: bool) -> bool:
    if choice == "always":
        return True
    if choice == "never" or to_file:
        return False
    is_tty = getattr(stream, "isatty", lambda: False)()
    return bool(is_tty) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def _cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    x, k = _operands(args)
    channels = None
    if args.channels is not None or args.groups is not None:
        counts = parse_ints(args.channels or "1,1", "--channels")
        if len(counts) != 2:
            raise UsageError(f"--channels: expected IN,OUT like 4,6, got {args.channels!r}")
        channels = channel_summary(counts[0], counts[1], args.groups or 1, k.shape)
    explanation = explain(
        x,
        k,
        args.bias,
        stride=_per_dim(parse_ints(args.stride, "--stride")),
        padding=parse_padding(args.padding),
        output_padding=_per_dim(parse_ints(args.output_padding, "--output-padding")),
        dilation=_per_dim(parse_ints(args.dilation, "--dilation")),
        view=args.view,
        channels=channels,
        padding_mode=args.padding_mode,
    )
    if args.format == "text":
        text = render_text(explanation, lang=args.lang, color=_use_color(args.color, out, bool(args.output)))
        if args.output:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text)
        else:
            out.write(text)
        return 0
    path = args.output or f"convtranspose-{args.view}.{args.format}"
    _render_figure(explanation, args.format, path, args.lang)
    out.write(f"{path}\n")
    return 0


def _render_figure(explanation: object, fmt: str, path: str, lang: str) -> None:
    try:
        from .render.figures import render_figure
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing in ("matplotlib", "PIL"):
            raise UsageError(
                f"--format {fmt} needs {missing}; install it with: pip install 'convtranspose[explain]'"
            ) from None
        raise UsageError(f"--format {fmt} is not available in this installation (no figure renderer)") from None
    render_figure(explanation, fmt, path, lang)


def _cmd_shape(args: argparse.Namespace, out: TextIO) -> int:
    sizes = parse_ints(args.in_size, "--in")
    kernel = parse_ints(args.kernel_size, "--kernel-size")
    per_dim = {
        "stride": parse_ints(args.stride, "--stride"),
        "output_padding": parse_ints(args.output_padding, "--output-padding"),
        "dilation": parse_ints(args.dilation, "--dilation"),
    }
    padding = parse_padding(args.padding)
    padding_dims = [len(padding)] if isinstance(padding, tuple) else []
    ndim = max(len(v) for v in [sizes, kernel, *per_dim.values()] + [[0] * n for n in padding_dims])
    sizes = sizes * ndim if len(sizes) == 1 else sizes
    kernel = kernel * ndim if len(kernel) == 1 else kernel
    if len(sizes) != ndim or len(kernel) != ndim:
        raise UsageError(f"--in and --kernel-size must have 1 or {ndim} values")
    if min(sizes) < 1 or min(kernel) < 1:
        raise UsageError(f"--in and --kernel-size must be positive, got --in {args.in_size} --kernel-size {args.kernel_size}")
    spec = make_spec(ndim, padding=padding, **{name: _per_dim(v) for name, v in per_dim.items()})  # type: ignore[arg-type]
    geometry = geometries(sizes, kernel, spec)
    spatial_output_shape(sizes, kernel, spec)  # raises OutputSizeError for an empty output
    out.write(render_shape(geometry, lang=args.lang, form=spec.padding_form))
    return 0


def _cmd_solve(args: argparse.Namespace, out: TextIO) -> int:
    bounds = SolveBounds(
        kernel=(args.min_kernel, args.max_kernel),
        stride=(args.min_stride, args.max_stride),
        padding=(args.min_padding, args.max_padding),
        dilation=(args.min_dilation, args.max_dilation),
    )
    result = solve(args.in_size, args.out_size, bounds)
    out.write(render_solve(result, lang=args.lang, limit=args.limit, color=_use_color(args.color, out, False)))
    return 0


def _cmd_bench(argv: Sequence[str]) -> int:
    try:
        from .bench.cli import add_arguments, run
    except ImportError as exc:
        raise UsageError(f"the bench subcommand is unavailable ({exc}); install with: pip install 'convtranspose[bench]'") from None
    parser = _Parser(prog=f"{PROG} bench", description="Benchmark convtranspose against its peers.")
    add_arguments(parser)
    return int(run(parser.parse_args(list(argv))))


# --------------------------------------------------------------------------------------------
# Parser and main
# --------------------------------------------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lang", choices=LANGUAGES, default="en",
        help="language of the output (explanations, tables, figure labels): en or zh (default en); "
        "this help and error details stay in English",
    )


def _add_params(parser: argparse.ArgumentParser) -> None:
    per_dim = "an int, or one per dimension like 1,2"
    parser.add_argument("--stride", default="1", help=f"stride: {per_dim} (default 1)")
    parser.add_argument(
        "--padding", default="0",
        help=f"padding: {per_dim}, before:after pairs like 1:2,0:1, or same, same_lower, valid (default 0)",
    )
    parser.add_argument("--output-padding", default="0", help=f"output_padding: {per_dim} (default 0)")
    parser.add_argument("--dilation", default="1", help=f"dilation: {per_dim} (default 1)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``convtranspose`` (bench's own options load only when it runs)."""
    parser = _Parser(
        prog=PROG,
        description="Explain transposed convolution with your own numbers.",
        epilog="Start with: convtranspose explain",
    )
    commands = parser.add_subparsers(dest="command", metavar="{explain,shape,solve,bench}", parser_class=_Parser)

    ex = commands.add_parser(
        "explain",
        help="step-by-step trace (or another view) of one transposed convolution",
        description="Print every step of a 1-d or 2-d transposed convolution. Without options: the seed "
        "example, input [[0,1],[2,3]], kernel [[1.1,2.2],[3.3,4.4]], stride 1.",
        epilog=f"Caps: {caps_summary()}.",
    )
    ex.add_argument("--input", help="input values as a nested list, e.g. '[[0,1],[2,3]]' or '[1,2,3]'")
    ex.add_argument("--size", help="generate the input 0, 1, 2, ... with this shape, e.g. 3,3")
    ex.add_argument("--kernel", help="kernel values as a nested list, e.g. '[[1.1,2.2],[3.3,4.4]]'")
    ex.add_argument("--kernel-size", help="generate the kernel 1.1, 2.2, 3.3, ... with this shape, e.g. 3,3")
    _add_params(ex)
    ex.add_argument("--bias", type=float, help="bias added to every output cell")
    ex.add_argument("--channels", help="IN,OUT channel counts of the layer (adds a note on how planes combine)")
    ex.add_argument("--groups", type=int, help="groups of the layer (with --channels)")
    ex.add_argument(
        "--padding-mode", default="zeros", choices=PADDING_MODES,
        help="zeros (default, PyTorch's crop), or reflect, replicate, circular: the border is folded back "
        "(the exact adjoint of a convolution with that padding_mode; scatter view)",
    )
    ex.add_argument("--view", choices=VIEWS, default="scatter", help="scatter (default): the step-by-step trace; "
                    "conv: zero insertion + flipped kernel; matrix: C^T x; phase: sub-pixel convolutions; "
                    "overlap: terms per output cell")
    ex.add_argument("--format", choices=FORMATS, default="text", help="text (default), or a png/svg/gif figure")
    ex.add_argument("-o", "--output", help="write to FILE instead of stdout (figures: default convtranspose-VIEW.FORMAT)")
    ex.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                    help="ANSI colour: auto (default; only on a terminal without NO_COLOR), always, never")
    _add_common(ex)

    sh = commands.add_parser(
        "shape",
        help="output shape with the formula and your numbers plugged in",
        description="out = (in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1, per dimension.",
    )
    sh.add_argument("--in", dest="in_size", required=True, help="input size: an int or per dimension, e.g. 16 or 16,8")
    sh.add_argument("--kernel-size", required=True, help="kernel size: an int or per dimension")
    _add_params(sh)
    _add_common(sh)

    defaults = SolveBounds()
    so = commands.add_parser(
        "solve",
        help="every kernel/stride/padding/output_padding/dilation mapping IN to OUT",
        description="List every combination within the bounds that maps an input length to an output length, "
        "even overlap first (then smaller kernels), checkerboard-prone ones flagged. "
        f"Default bounds: kernel {defaults.kernel[0]}..{defaults.kernel[1]}, stride {defaults.stride[0]}.."
        f"{defaults.stride[1]}, padding {defaults.padding[0]}..{defaults.padding[1]}, dilation "
        f"{defaults.dilation[0]}..{defaults.dilation[1]}, every valid output_padding.",
    )
    so.add_argument("--in", dest="in_size", type=int, required=True, help="input length")
    so.add_argument("--out", dest="out_size", type=int, required=True, help="wanted output length")
    for name, (low, high) in (
        ("kernel", defaults.kernel),
        ("stride", defaults.stride),
        ("padding", defaults.padding),
        ("dilation", defaults.dilation),
    ):
        so.add_argument(f"--min-{name}", type=int, default=low, help=f"smallest {name} tried (default {low})")
        so.add_argument(f"--max-{name}", type=int, default=high, help=f"largest {name} tried (default {high})")
    so.add_argument("--limit", type=int, default=20, help="print at most this many (0 = all; default 20)")
    so.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="ANSI colour (default auto)")
    _add_common(so)

    commands.add_parser("bench", help="benchmarks against peers (needs convtranspose[bench]); see 'bench --help'",
                        add_help=False)
    return parser


def _lang_of(argv: Sequence[str]) -> str:
    """Best-effort --lang for error messages, before (or when) parsing fails."""
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv) and argv[i + 1] in LANGUAGES:
            return argv[i + 1]
        if arg.startswith("--lang=") and arg[7:] in LANGUAGES:
            return arg[7:]
    return "en"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (e.g. under tests)
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit status (0 on success, 2 on any error)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    out, err = sys.stdout, sys.stderr
    try:
        if args_list and args_list[0] == "bench":
            return _cmd_bench(args_list[1:])
        args = build_parser().parse_args(args_list)
        if args.command is None:
            build_parser().print_help(out)
            return 0
        handler = {"explain": _cmd_explain, "shape": _cmd_shape, "solve": _cmd_solve}[args.command]
        return handler(args, out)
    except SystemExit as exc:  # --help / --version from argparse
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except BrokenPipeError:  # the reader went away (`convtranspose explain | head`): stop quietly
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by the closed pipe
    except (UsageError, ConvTransposeError, ValueError, TypeError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        err.write(f"{PROG}: {tr(_lang_of(args_list), 'error_prefix')}{message}\n")
        return 2
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
