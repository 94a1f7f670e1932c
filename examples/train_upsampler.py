"""Train a x2 image upsampler made of two transposed convolutions, in NumPy only.

Data
    scikit-learn's bundled 8x8 handwritten digits (1797 images, no download), pixels scaled to
    [0, 1]. The input is each image shrunk to 4x4 by 2x2 mean pooling; the target is the original
    8x8 image. A fixed-seed split keeps 25 % of the images for testing.
Model
    ``ConvTranspose2d(1, 16, kernel_size=6, stride=2, padding=2)`` -> ReLU ->
    ``ConvTranspose2d(16, 1, kernel_size=3, padding=1)``.
    The first layer does the upsampling: with stride 2 every input pixel stamps a 6x6 kernel copy
    at a 2-pixel offset, so each output pixel is a learned blend of 3x3 input pixels, and
    ``(4 - 1) * 2 - 2 * 2 + 6 = 8`` gives exactly 8x8. (The classic doubler ``k4 s2 p1`` sees only
    2x2 input pixels per output pixel and ends about 20 % worse here; ``k2 s2`` would give
    non-overlapping copies and blocky output.) Its 16 channels learn stroke pieces; the ReLU lets
    the second layer (stride 1, a 3x3 transposed convolution that keeps the 8x8 size) combine them
    non-linearly into one sharpened image.
Training
    Mean squared error, minibatches of 32, Adam (written out below in a few lines) with a cosine
    learning-rate decay, fixed seed. Gradients come from each layer's ``backward``: there is no
    autograd, the model chains the layers' backward calls by hand (second layer, ReLU mask, first
    layer), and the parameter gradients accumulate in ``layer.weight_grad`` / ``layer.bias_grad``.
Baseline
    Bilinear x2 upsampling of the 4x4 input, with the half-pixel convention (pixel centres at
    ``i + 0.5``; PyTorch's ``align_corners=False``, OpenCV's ``resize``), edges clamped. It matches
    the 2x2 mean pooling, whose 4x4 pixel centres lie in the middle of each 2x2 block.

Run (about 10 seconds; writes the figure shown in the README's "Training" section)::

    python examples/train_upsampler.py

Needs the ``examples`` extra: ``pip install "convtranspose[examples]"`` (scikit-learn, matplotlib,
tqdm).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from convtranspose import ConvTranspose2d

DEFAULT_OUT = Path("training.png")  # in the working directory; the README image is regenerated with --out


# --------------------------------------------------------------------------------------------
# Data and the bilinear baseline
# --------------------------------------------------------------------------------------------


@dataclass
class Data:
    """Low-resolution inputs ``(N, 1, 4, 4)`` and 8x8 targets ``(N, 1, 8, 8)``, float32 in [0, 1].

    ``test_labels`` (the digit shown) only serves to pick one test image per digit for the figure.
    """

    train_inputs: np.ndarray
    train_targets: np.ndarray
    test_inputs: np.ndarray
    test_targets: np.ndarray
    test_labels: np.ndarray


def downsample_2x2_mean(images: np.ndarray) -> np.ndarray:
    """Halve the last two axes by averaging non-overlapping 2x2 blocks."""
    *lead, height, width = images.shape
    blocks = images.reshape(*lead, height // 2, 2, width // 2, 2)
    return blocks.mean(axis=(-3, -1))


def load_data(seed: int = 0, test_fraction: float = 0.25, limit: Optional[int] = None) -> Data:
    """The digits as (4x4 input, 8x8 target) pairs, shuffled and split with ``seed``.

    ``limit`` keeps only the first ``limit`` shuffled images (for quick runs and tests).
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0  # pixel values 0..16 -> [0, 1]
    order = np.random.default_rng(seed).permutation(len(images))
    if limit is not None:
        order = order[:limit]
    targets = images[order][:, np.newaxis]  # (N, 1, 8, 8)
    inputs = downsample_2x2_mean(targets)  # (N, 1, 4, 4)
    n_test = int(round(len(order) * test_fraction))
    labels = digits.target[order]
    return Data(inputs[n_test:], targets[n_test:], inputs[:n_test], targets[:n_test], labels[:n_test])


def bilinear_matrix(size_in: int, size_out: int) -> np.ndarray:
    """``(size_out, size_in)`` matrix of 1-d linear interpolation, half-pixel centres, clamped edges.

    Output pixel ``o`` samples the input at ``(o + 0.5) * size_in / size_out - 0.5``.
    """
    matrix = np.zeros((size_out, size_in))
    for o in range(size_out):
        source = min(max((o + 0.5) * size_in / size_out - 0.5, 0.0), size_in - 1)
        left = int(np.floor(source))
        right = min(left + 1, size_in - 1)
        frac = source - left
        matrix[o, left] += 1.0 - frac
        matrix[o, right] += frac
    return matrix


def bilinear_upsample_x2(images: np.ndarray) -> np.ndarray:
    """Bilinear x2 upsampling of the last two axes (separable: rows, then columns)."""
    height, width = images.shape[-2:]
    rows, cols = bilinear_matrix(height, 2 * height), bilinear_matrix(width, 2 * width)
    upsampled = rows @ images @ cols.T
    return upsampled.astype(images.dtype)


def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((prediction - target) ** 2))


# --------------------------------------------------------------------------------------------
# Model and optimizer
# --------------------------------------------------------------------------------------------


class Upsampler:
    """ConvTranspose2d(1, 16, k6 s2 p2) -> ReLU -> ConvTranspose2d(16, 1, k3 s1 p1)."""

    def __init__(self, hidden: int = 16, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.up = ConvTranspose2d(1, hidden, kernel_size=6, stride=2, padding=2, rng=rng)
        self.mix = ConvTranspose2d(hidden, 1, kernel_size=3, stride=1, padding=1, rng=rng)
        self.layers = (self.up, self.mix)
        self._active: Optional[np.ndarray] = None

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        hidden = self.up(inputs)
        self._active = hidden > 0
        return self.mix(np.maximum(hidden, 0))

    def backward(self, grad_output: np.ndarray) -> None:
        """Chain the layers' backward calls; parameter gradients accumulate in the layers."""
        grad_hidden = self.mix.backward(grad_output) * self._active  # ReLU passes where it was > 0
        self.up.backward(grad_hidden)

    def zero_grad(self) -> None:
        for layer in self.layers:
            layer.zero_grad()


class Adam:
    """Adam (Kingma & Ba) over the layers' ``parameters()``/``gradients()``, updated in place."""

    def __init__(self, layers, lr: float = 0.01, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.pairs = [(layer, name) for layer in layers for name in layer.parameters()]
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.m = [np.zeros_like(layer.parameters()[name]) for layer, name in self.pairs]
        self.v = [np.zeros_like(m) for m in self.m]
        self.t = 0

    def step(self) -> None:
        self.t += 1
        for (layer, name), m, v in zip(self.pairs, self.m, self.v):
            param, grad = layer.parameters()[name], layer.gradients()[name]
            m += (1 - self.beta1) * (grad - m)  # running mean of the gradient
            v += (1 - self.beta2) * (grad**2 - v)  # running mean of its square
            m_hat, v_hat = m / (1 - self.beta1**self.t), v / (1 - self.beta2**self.t)
            param -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)  # in place: the layer sees it


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


@dataclass
class History:
    """Per-epoch losses; index 0 is before training. ``baseline_test_mse`` is bilinear's."""

    train_loss: list[float] = field(default_factory=list)
    test_mse: list[float] = field(default_factory=list)
    baseline_test_mse: float = float("nan")
    seconds: float = 0.0


def train(
    data: Data,
    epochs: int = 60,
    batch_size: int = 32,
    lr: float = 0.02,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Upsampler, History]:
    """Train an :class:`Upsampler` with Adam on mean squared error; return it and its history.

    The learning rate decays from ``lr`` towards 0 along a half cosine over the epochs.
    """
    from tqdm.auto import trange

    rng = np.random.default_rng(seed)
    model = Upsampler(seed=seed)
    optimizer = Adam(model.layers, lr=lr)
    history = History(baseline_test_mse=mse(bilinear_upsample_x2(data.test_inputs), data.test_targets))
    history.train_loss.append(mse(model(data.train_inputs), data.train_targets))
    history.test_mse.append(mse(model(data.test_inputs), data.test_targets))

    start = time.perf_counter()
    bar = trange(epochs, desc="training", unit="epoch", disable=not progress)
    for epoch in bar:
        optimizer.lr = lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))  # half-cosine decay towards 0
        order = rng.permutation(len(data.train_inputs))
        batch_losses = []
        for begin in range(0, len(order), batch_size):
            batch = order[begin : begin + batch_size]
            prediction = model(data.train_inputs[batch])
            error = prediction - data.train_targets[batch]
            batch_losses.append(float(np.mean(error**2)))
            model.zero_grad()
            model.backward(2.0 * error / error.size)  # d(mean squared error) / d(prediction)
            optimizer.step()
        history.train_loss.append(float(np.mean(batch_losses)))
        history.test_mse.append(mse(model(data.test_inputs), data.test_targets))
        bar.set_postfix(train=f"{history.train_loss[-1]:.4f}", test=f"{history.test_mse[-1]:.4f}")
    history.seconds = time.perf_counter() - start
    return model, history


# --------------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------------


def plot(model: Upsampler, data: Data, history: History, out: Path) -> None:
    """Save a PNG: one test image per digit (input / bilinear / prediction / target) and the losses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, ScalarFormatter

    shown = [int(np.flatnonzero(data.test_labels == digit)[0]) for digit in np.unique(data.test_labels)]
    inputs, targets = data.test_inputs[shown], data.test_targets[shown]
    columns = len(shown)
    rows = {
        "input 4x4": np.kron(inputs, np.ones((2, 2), dtype=inputs.dtype)),  # nearest-neighbour display
        f"bilinear\ntest MSE {history.baseline_test_mse:.4f}": bilinear_upsample_x2(inputs),
        f"prediction\ntest MSE {history.test_mse[-1]:.4f}": model(inputs),
        "target 8x8": targets,
    }

    figure = plt.figure(figsize=(13, 4.4), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=[1.6, 1])
    axes = left.subplots(len(rows), columns)
    for row, (label, images) in enumerate(rows.items()):
        for col in range(columns):
            axis = axes[row, col]
            axis.imshow(np.clip(images[col, 0], 0, 1), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if col == 0:
                axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    left.suptitle("Test digits (not seen in training): x2 upsampling of a 4x4 mean-pooled input", fontsize=11)

    axis = right.subplots()
    epochs = np.arange(len(history.train_loss))
    axis.plot(epochs, history.train_loss, label="train loss (MSE, epoch mean)")
    axis.plot(epochs, history.test_mse, label="test MSE")
    axis.axhline(history.baseline_test_mse, color="gray", linestyle="--", label="bilinear baseline (test)")
    axis.set_yscale("log")
    axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_major_formatter(ScalarFormatter())
    axis.yaxis.set_minor_formatter(plt.NullFormatter())
    axis.set_xlabel("epoch")
    axis.set_ylabel("mean squared error")
    axis.set_title(
        "ConvTranspose2d(1, 16, k6 s2 p2) → ReLU →\n"
        f"ConvTranspose2d(16, 1, k3 p1); Adam, {len(epochs) - 1} epochs",
        fontsize=10,
    )
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()

    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--epochs", type=int, default=60, help="passes over the training set (default 60)")
    parser.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    parser.add_argument("--lr", type=float, default=0.02, help="initial Adam learning rate (default 0.02)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, initial weights and batches")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG path (default training.png in the current directory)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> History:
    args = parse_args(argv)
    data = load_data(seed=args.seed)
    model, history = train(
        data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, progress=not args.quiet
    )
    plot(model, data, history, args.out)
    model_mse, baseline = history.test_mse[-1], history.baseline_test_mse
    print(f"train images: {len(data.train_inputs)}, test images: {len(data.test_inputs)}")
    print(f"bilinear baseline test MSE: {baseline:.5f}")
    print(f"model test MSE:             {model_mse:.5f}  ({baseline / model_mse:.1f}x lower than bilinear)")
    print(f"training time: {history.seconds:.1f} s; figure: {args.out}")
    return history


if __name__ == "__main__":
    main()
