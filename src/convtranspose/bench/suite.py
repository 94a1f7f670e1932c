"""The benchmark suite: named transposed-convolution layers taken from real models.

Every layer is fp32 and has a bias. A :class:`Layer` knows its operand shapes, the keyword
arguments of :func:`convtranspose.conv_transpose`, its flop count and its ``--quick`` variant.

Flop convention (one multiply-add = 2 flops; zero-padding, cropping and the bias are not
counted)::

    forward  = 2 * N * C_in * (C_out / groups) * prod(kernel) * prod(S_in)
    backward = 2 * forward        # input gradient + weight gradient; the bias gradient is free

Examples
--------
>>> layer = find_layers(["dcgan.2"])[0]
>>> layer.input_shape, layer.output_shape
((64, 512, 4, 4), (64, 256, 8, 8))
>>> round(layer.forward_flops / 1e9, 2)
4.29
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from math import prod
from typing import Any, Optional, Sequence

from ..shape import spatial_output_shape
from ..spec import ConvTransposeSpec, make_spec

__all__ = ["Layer", "LAYERS", "find_layers", "quick_layers"]


@dataclass(frozen=True)
class Layer:
    """One transposed-convolution layer of the suite (hyper-parameters are the same on every axis).

    Parameters
    ----------
    name : str
        Short unique name, ``model.layer``.
    source : str
        Where the layer comes from.
    batch, in_channels, out_channels : int
    kernel_size : int
    input_size : tuple of int
        Spatial input size; its length is the number of spatial dimensions.
    stride, padding, output_padding, dilation, groups : int
    compute_bound : bool
        Layers held to the "fraction of the sgemm rate" target.
    overhead : bool
        The tiny layer that measures per-call overhead.
    quick_batch : int, optional
        Batch size used by ``--quick`` (default: unchanged).
    quick_input_size : tuple of int, optional
        Spatial input size used by ``--quick`` (default: unchanged).
    """

    name: str
    source: str
    batch: int
    in_channels: int
    out_channels: int
    kernel_size: int
    input_size: tuple[int, ...]
    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    dilation: int = 1
    groups: int = 1
    compute_bound: bool = False
    overhead: bool = False
    quick_batch: Optional[int] = None
    quick_input_size: Optional[tuple[int, ...]] = None

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (1, 2 or 3)."""
        return len(self.input_size)

    @property
    def kernel(self) -> tuple[int, ...]:
        return (self.kernel_size,) * self.ndim

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels) + tuple(self.input_size)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.out_channels // self.groups) + self.kernel

    @property
    def output_spatial(self) -> tuple[int, ...]:
        return spatial_output_shape(self.input_size, self.kernel, self.spec)

    @property
    def spec(self) -> ConvTransposeSpec:
        """The layer's hyper-parameters, normalized."""
        return make_spec(
            self.ndim, stride=self.stride, padding=self.padding, output_padding=self.output_padding,
            dilation=self.dilation, groups=self.groups,
        )

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels) + self.output_spatial

    @property
    def output_bytes(self) -> int:
        """Size of the output in float32 (the forward memory target's reference)."""
        return 4 * prod(self.output_shape)

    @property
    def largest_gradient_bytes(self) -> int:
        """Size of the largest of the input, weight and bias gradients in float32 (the backward's reference)."""
        return 4 * max(prod(self.input_shape), prod(self.weight_shape), self.out_channels)

    def conv_kwargs(self) -> dict[str, int]:
        """Keyword arguments shared by :func:`convtranspose.conv_transpose` and torch's functional."""
        return {
            "stride": self.stride,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "groups": self.groups,
            "dilation": self.dilation,
        }

    @property
    def forward_flops(self) -> int:
        per_group_out = self.out_channels // self.groups
        return 2 * self.batch * self.in_channels * per_group_out * prod(self.kernel) * prod(self.input_size)

    @property
    def backward_flops(self) -> int:
        return 2 * self.forward_flops

    def describe_shape(self) -> str:
        """Compact shape text, e.g. ``64x512x4x4 -> 64x256x8x8 k4 s2 p1``."""
        dims = "x".join
        text = f"{dims(map(str, self.input_shape))} -> {dims(map(str, self.output_shape))} k{self.kernel_size}"
        extras = [
            ("s", self.stride, 1),
            ("p", self.padding, 0),
            ("op", self.output_padding, 0),
            ("d", self.dilation, 1),
            ("g", self.groups, 1),
        ]
        return text + "".join(f" {tag}{value}" for tag, value, default in extras if value != default)

    def quick(self) -> "Layer":
        """The smaller variant run by ``--quick``."""
        return replace(
            self,
            batch=self.quick_batch or self.batch,
            input_size=self.quick_input_size or self.input_size,
        )


def _dcgan(index: int, c_in: int, c_out: int, size: int, **extra: Any) -> Layer:
    return Layer(
        f"dcgan.{index}", "DCGAN 64x64 generator", 64, c_in, c_out, 4, (size, size), quick_batch=8, **extra
    )


LAYERS: tuple[Layer, ...] = (
    _dcgan(1, 100, 512, 1),
    _dcgan(2, 512, 256, 4, stride=2, padding=1, compute_bound=True),
    _dcgan(3, 256, 128, 8, stride=2, padding=1),
    _dcgan(4, 128, 64, 16, stride=2, padding=1),
    _dcgan(5, 64, 3, 32, stride=2, padding=1),
    Layer("unet.up1", "U-Net decoder", 4, 512, 256, 2, (32, 32), stride=2, quick_batch=1),
    Layer("unet.up3", "U-Net decoder", 4, 128, 64, 2, (128, 128), stride=2, quick_batch=1),
    Layer("fcn8s.upscore2", "FCN-8s, 21 classes", 1, 21, 21, 4, (16, 16), stride=2, padding=1),
    Layer("fcn8s.upscore8", "FCN-8s, 21 classes", 1, 21, 21, 16, (64, 64), stride=8, padding=4),
    Layer("hifigan.up1", "HiFi-GAN v1 (1d)", 1, 512, 256, 16, (32,), stride=8, padding=4),
    Layer("hifigan.up2", "HiFi-GAN v1 (1d)", 1, 256, 128, 16, (256,), stride=8, padding=4),
    Layer("hifigan.up3", "HiFi-GAN v1 (1d)", 1, 128, 64, 4, (2048,), stride=2, padding=1),
    Layer(
        "unet3d.up",
        "3D U-Net decoder",
        1,
        256,
        128,
        2,
        (16, 16, 16),
        stride=2,
        compute_bound=True,
        quick_input_size=(8, 8, 8),
    ),
    Layer(
        "depthwise",
        "depthwise upsampler (groups = channels)",
        4,
        256,
        256,
        4,
        (32, 32),
        stride=2,
        padding=1,
        groups=256,
        quick_batch=1,
    ),
    Layer(
        "dilated",
        "dilated decoder layer",
        4,
        128,
        64,
        3,
        (32, 32),
        stride=2,
        padding=2,
        output_padding=1,
        dilation=2,
        quick_batch=1,
    ),
    Layer("tiny", "1x1x3x3 call (per-call overhead)", 1, 1, 1, 3, (3, 3), overhead=True),
)


def find_layers(patterns: Optional[Sequence[str]] = None) -> list[Layer]:
    """Layers whose name matches any of the shell-style ``patterns`` (all layers if none).

    Raises
    ------
    ValueError
        When a pattern matches no layer.
    """
    if not patterns:
        return list(LAYERS)
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(layer.name, pattern) for layer in LAYERS):
            names = ", ".join(layer.name for layer in LAYERS)
            raise ValueError(f"--layers: pattern {pattern!r} matches no layer; layers are: {names}")
    return [layer for layer in LAYERS if any(fnmatch.fnmatchcase(layer.name, p) for p in patterns)]


def quick_layers(layers: Sequence[Layer]) -> list[Layer]:
    """The ``--quick`` variants of ``layers``."""
    return [layer.quick() for layer in layers]
