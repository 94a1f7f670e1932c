"""convtranspose: PyTorch-exact transposed convolution on NumPy.

Layers
    :class:`ConvTranspose1d`, :class:`ConvTranspose2d`, :class:`ConvTranspose3d`
Functions
    :func:`conv_transpose` (N-d), :func:`conv_transpose1d`, :func:`conv_transpose2d`,
    :func:`conv_transpose3d`, and the gradients :func:`conv_transpose_backward`,
    :func:`conv_transpose_input_grad`, :func:`conv_transpose_weight_grad`,
    :func:`conv_transpose_bias_grad`; :func:`conv`, the ordinary convolution ``conv_transpose`` is
    the adjoint of
Shape arithmetic
    :func:`output_size`, :func:`output_size_range`, :func:`output_padding_for`

Output size per spatial dimension::

    out = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
"""

from typing import TYPE_CHECKING

from .errors import (
    ConvTransposeError,
    DTypeError,
    OutOfMemoryError,
    OutputSizeError,
    ParameterError,
    ParameterTypeError,
    ShapeError,
)

if TYPE_CHECKING:  # pragma: no cover - the names below are loaded on first use (``__getattr__``)
    from .functional import (
        conv,
        conv_transpose,
        conv_transpose1d,
        conv_transpose2d,
        conv_transpose3d,
        conv_transpose_backward,
        conv_transpose_bias_grad,
        conv_transpose_input_grad,
        conv_transpose_weight_grad,
    )
    from .modules import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, ConvTransposeNd
    from .shape import output_padding_for, output_size, output_size_range
    from .spec import ConvTransposeSpec, make_spec

# Public names and the submodule defining each. They are imported on first access (PEP 562), so
# that light modules such as the zh/en catalogue (``convtranspose.i18n``) or the shape arithmetic
# can be used without loading the engine.
_LAZY = {
    **dict.fromkeys(
        (
            "conv_transpose",
            "conv_transpose1d",
            "conv_transpose2d",
            "conv_transpose3d",
            "conv_transpose_backward",
            "conv_transpose_bias_grad",
            "conv_transpose_input_grad",
            "conv_transpose_weight_grad",
            "conv",
        ),
        "functional",
    ),
    **dict.fromkeys(("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "ConvTransposeNd"), "modules"),
    **dict.fromkeys(("output_padding_for", "output_size", "output_size_range"), "shape"),
    **dict.fromkeys(("ConvTransposeSpec", "make_spec"), "spec"),
}


def __getattr__(name: str) -> object:
    from importlib import import_module
    from importlib.util import find_spec

    module_name = _LAZY.get(name)
    if module_name is None:
        # A submodule (``convtranspose.engine``...): reachable as an attribute, as when eagerly imported.
        if not name.startswith("__") and find_spec(f"{__name__}.{name}") is not None:
            return import_module(f".{name}", __name__)
        raise AttributeError(f"module 'convtranspose' has no attribute {name!r}")
    value = getattr(import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "ConvTransposeNd",
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_backward",
    "conv_transpose_input_grad",
    "conv_transpose_weight_grad",
    "conv_transpose_bias_grad",
    "conv",
    "output_size",
    "output_size_range",
    "output_padding_for",
    "ConvTransposeSpec",
    "make_spec",
    "ConvTransposeError",
    "ParameterError",
    "ParameterTypeError",
    "ShapeError",
    "OutputSizeError",
    "DTypeError",
    "OutOfMemoryError",
    "__version__",
]
