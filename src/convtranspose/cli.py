"""Command-line interface: ``convtranspose explain | shape | solve | serve | bench``.

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
import re
import shutil
import sys
from math import prod
from typing import Any, Optional, Sequence, TextIO

import numpy as np

from .errors import ConvTransposeError
from .explain import (
    MAX_INPUT_ELEMENTS,
    MAX_KERNEL_SIDE,
    VIEWS,
    Explanation,
    SolveBounds,
    TooLargeToDrawError,
    caps_summary,
    channel_summary,
    explain,
    solve,
)
from .i18n import LANGUAGES, localize_error, tr
from .padding import PADDING_MODES
from .render.text import render_shape, render_solve, render_text
from .shape import geometries, spatial_output_shape
from .spec import make_spec

__all__ = ["main", "build_parser", "SEED_INPUT", "SEED_KERNEL"]

PROG = "convtranspose"
SEED_INPUT = [[0.0, 1.0], [2.0, 3.0]]
SEED_KERNEL = [[1.1, 2.2], [3.3, 4.4]]
FORMATS = ("text", "png", "svg", "gif", "html")
#: ``-o`` file extensions that decide the format when ``--format`` is not given.
EXTENSION_FORMATS = {".txt": "text", ".text": "text", ".png": "png", ".svg": "svg", ".gif": "gif", ".html": "html", ".htm": "html"}


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


def parse_padding(text: str, ndim: int = 1) -> Any:
    """``--padding``: ``same``, ``same_lower``, ``valid``, ints like ``1`` or ``1,2``, or per-dimension
    ``before:after`` pairs like ``1:2,0:1`` (a plain int in a list is symmetric: ``1,0:2``).

    Examples
    --------
    >>> parse_padding("1:2,0:1"), parse_padding("same"), parse_padding("1,2"), parse_padding("1", 2)
    (((1, 2), (0, 1)), 'same', (1, 2), (1, 1))
    """
    cleaned = text.strip()
    if cleaned.isalpha() or "_" in cleaned:
        return cleaned  # a form's name: the library validates it
    if ":" not in cleaned:
        return _per_dim(parse_ints(text, "--padding"), ndim)
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


def _per_dim(values: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """A single value applies to every dimension (expanded to ``ndim``); several are per dimension."""
    return values * ndim if len(values) == 1 else values


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
        if x.ndim not in (1, 2):
            raise UsageError(
                f"--input: expected a list of numbers (1-d) or a list of rows (2-d), got a {x.ndim}-d list of shape {x.shape}"
            )
    else:
        x = np.array(SEED_INPUT)
    if args.kernel_size is not None:
        ksize = _per_dim(parse_ints(args.kernel_size, "--kernel-size"), x.ndim)  # "3" means 3x3 for a 2-d input
        if max(ksize) > MAX_KERNEL_SIDE:
            raise TooLargeToDrawError(f"--kernel-size {args.kernel_size} is too large to draw; at most {MAX_KERNEL_SIDE} per side")
        k = _generated(ksize, "--kernel-size", 1.1, 1.1)
    elif args.kernel is not None:
        k = parse_array(args.kernel, "--kernel")
        if k.ndim not in (1, 2):
            raise UsageError(
                f"--kernel: expected a list of numbers (1-d) or a list of rows (2-d), got a {k.ndim}-d list of shape {k.shape}"
            )
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


def _explain_format(args: argparse.Namespace) -> str:
    """``--format``, or the one the ``-o`` extension names; a mismatch between the two is refused."""
    extension = os.path.splitext(args.output or "")[1].lower()
    implied = EXTENSION_FORMATS.get(extension)
    if args.format is None:
        return implied or "text"
    if implied is not None and implied != args.format:
        raise UsageError(
            f"--format {args.format} does not match the extension of -o {args.output} ({extension} is {implied}); "
            f"change one of them, or leave --format out to follow the extension"
        )
    return str(args.format)


def _explanation(args: argparse.Namespace) -> Explanation:
    x, k = _operands(args)
    channels = None
    if args.channels is not None or args.groups is not None:
        counts = parse_ints(args.channels or "1,1", "--channels")
        if len(counts) != 2:
            raise UsageError(f"--channels: expected IN,OUT like 4,6, got {args.channels!r}")
        channels = channel_summary(counts[0], counts[1], args.groups or 1, k.shape)
    return explain(
        x,
        k,
        args.bias,
        stride=_per_dim(parse_ints(args.stride, "--stride"), x.ndim),
        padding=parse_padding(args.padding, x.ndim),
        output_padding=_per_dim(parse_ints(args.output_padding, "--output-padding"), x.ndim),
        dilation=_per_dim(parse_ints(args.dilation, "--dilation"), x.ndim),
        view=args.view,
        channels=channels,
        padding_mode=args.padding_mode,
    )


def _cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    fmt = _explain_format(args)
    if fmt in ("png", "svg", "gif") and args.lang == "zh":
        _require_cjk_font(fmt)
    explanation = _explanation(args)
    if fmt == "text":
        width = None if args.output else shutil.get_terminal_size((100, 24)).columns
        text = render_text(
            explanation,
            lang=args.lang,
            color=_use_color(args.color, out, bool(args.output)),
            width=width,
            detail=args.detail,
        )
        if args.output:
            _write_text(args.output, text)
        else:
            out.write(text)
        return 0
    path = args.output or f"convtranspose-{args.view}.{fmt}"
    if fmt == "html":
        from .web.page import render_page

        _write_text(path, render_page(explanation, lang=args.lang, initial_view=args.view))
    else:
        _render_figure(explanation, fmt, path, args.lang)
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


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _require_cjk_font(fmt: str) -> None:
    """One clear error instead of a figure of empty boxes and a hundred glyph warnings."""
    try:
        from .render.figures import cjk_font
    except ModuleNotFoundError:
        return  # _render_figure reports the missing extra
    if cjk_font() is None:
        raise UsageError(
            f"--lang zh --format {fmt} needs a Chinese (CJK) font and none is installed; install one "
            "(Debian/Ubuntu: apt-get install fonts-wqy-microhei, then delete ~/.cache/matplotlib) "
            "or use --lang en"
        )


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
    if isinstance(padding, tuple) and len(padding) == 1:
        padding = padding * ndim  # one value (or one before:after pair) for every dimension
    sizes = _per_dim(sizes, ndim)
    kernel = _per_dim(kernel, ndim)
    if len(sizes) != ndim or len(kernel) != ndim:
        raise UsageError(f"--in and --kernel-size must have 1 or {ndim} values")
    if min(sizes) < 1 or min(kernel) < 1:
        raise UsageError(f"--in and --kernel-size must be positive, got --in {args.in_size} --kernel-size {args.kernel_size}")
    spec = make_spec(
        ndim,
        stride=_per_dim(per_dim["stride"], ndim),
        padding=padding if isinstance(padding, (str, tuple)) else (padding,) * ndim,
        output_padding=_per_dim(per_dim["output_padding"], ndim),
        dilation=_per_dim(per_dim["dilation"], ndim),
    )
    geometry = geometries(sizes, kernel, spec)
    spatial_output_shape(sizes, kernel, spec)  # raises OutputSizeError for an empty output
    out.write(render_shape(geometry, lang=args.lang, form=spec.padding_form))
    return 0


def _cmd_solve(args: argparse.Namespace, out: TextIO) -> int:
    if args.limit < 0:
        raise UsageError(f"--limit must be 0 (print all) or a positive count, got --limit {args.limit}")
    bounds = SolveBounds(
        kernel=(args.min_kernel, args.max_kernel),
        stride=(args.min_stride, args.max_stride),
        padding=(args.min_padding, args.max_padding),
        dilation=(args.min_dilation, args.max_dilation),
    )
    result = solve(args.in_size, args.out_size, bounds)
    out.write(render_solve(result, lang=args.lang, limit=args.limit, color=_use_color(args.color, out, False)))
    return 0


def _cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    try:
        from .web.server import serve
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        raise UsageError(
            f"the serve command needs {missing or 'the web extra'}; install it with: pip install 'convtranspose[web]'"
        ) from None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got --port {args.port}")
    return serve(host=args.host, port=args.port, open_browser=args.open, out=out)


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
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="{explain,shape,solve,serve,bench}", parser_class=_Parser)

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
    ex.add_argument(
        "--format", choices=FORMATS, default=None,
        help="text, a png/svg/gif figure, or html (the interactive page as one self-contained file); "
        "default: from the -o extension, else text",
    )
    ex.add_argument("-o", "--output", help="write to FILE instead of stdout (figures: default convtranspose-VIEW.FORMAT)")
    ex.add_argument(
        "--detail", choices=("auto", "full", "summary"), default="auto",
        help="text: 'summary' prints each scatter step as one line, 'full' every grid; 'auto' (default) "
        "summarises beyond 16 steps",
    )
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

    se = commands.add_parser(
        "serve",
        help="the interactive explainer page on a local web server (needs convtranspose[web])",
        description="Serve the interactive page and its JSON API (POST /api/explain). Nothing is fetched "
        "from the internet; by default only this machine can connect.",
    )
    se.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    se.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    se.add_argument("--open", action="store_true", help="open the page in the default web browser")

    commands.add_parser("bench", help="benchmarks against peers (needs convtranspose[bench]); see 'bench --help'",
                        add_help=False)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


#: ``--size -3,3``: argparse takes a value starting with "-" for an option (unless it is a plain
#: negative number), so such values are re-attached as ``--size=-3,3`` and reach our own checks.
_NEGATIVE_VALUE = re.compile(r"^-\d[\d,. ]*$")


def _attach_negative_values(argv: Sequence[str]) -> list[str]:
    fixed: list[str] = []
    for arg in argv:
        if fixed and fixed[-1].startswith("--") and "=" not in fixed[-1] and _NEGATIVE_VALUE.match(arg):
            fixed[-1] = f"{fixed[-1]}={arg}"
        else:
            fixed.append(arg)
    return fixed


def _describe_os_error(exc: OSError) -> str:
    """``cannot write out/x.png: directory out does not exist`` instead of ``[Errno 2] ...``."""
    if exc.filename is None:
        return exc.strerror or str(exc)
    path = str(exc.filename)
    folder = os.path.dirname(os.path.abspath(path))
    if isinstance(exc, FileNotFoundError) and not os.path.isdir(folder):
        return f"cannot write {path}: the directory {os.path.dirname(path) or folder} does not exist"
    if isinstance(exc, IsADirectoryError):
        return f"cannot write {path}: it is a directory; give a file name"
    if isinstance(exc, PermissionError):
        return f"cannot write {path}: permission denied"
    return f"cannot write {path}: {(exc.strerror or str(exc)).lower()}"


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
        args = build_parser().parse_args(_attach_negative_values(args_list))
        if args.command is None:
            build_parser().print_help(out)
            return 0
        handler = {"explain": _cmd_explain, "shape": _cmd_shape, "solve": _cmd_solve, "serve": _cmd_serve}[args.command]
        with np.errstate(all="ignore"):  # out-of-range values are reported by our own checks
            return int(handler(args, out))
    except SystemExit as exc:  # --help / --version from argparse
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except BrokenPipeError:  # the reader went away (`convtranspose explain | head`): stop quietly
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by the closed pipe
    except (UsageError, ConvTransposeError, ValueError, TypeError, OSError) as exc:
        text = _describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
        message = " ".join(text.split()) or type(exc).__name__
        lang = _lang_of(args_list)
        err.write(f"{PROG}: {tr(lang, 'error_prefix')}{localize_error(message, lang)}\n")
        return 2
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
