"""Recover a high-resolution image from blurred, strided observations with LSQR on the operator pair.

The forward model of a camera that blurs and samples every other pixel is an ordinary strided
convolution, ``y = conv(x, psf, stride=2, padding_mode='reflect')``: the adjoint ``A^H`` of the
transposed convolution ``A = as_linear_operator(psf, ...)``. One such observation has a quarter of the
unknowns; four of them, taken with the sensor shifted by one high-resolution pixel right and/or
down (multi-frame super-resolution), are enough to pin the image down. The four shifted blurs are
the four input channels of one transposed convolution, so ``A`` maps the four low-resolution frames
to one high-resolution image and ``A^H`` maps an image to its four observations. SciPy's LSQR solves
``min ||A^H x - y||^2 + damp^2 ||x||^2`` using only ``A`` and ``A^H`` (never a matrix).

The image is scikit-learn's bundled ``china.jpg`` (no download), in grey, cropped and halved to
128 x 128. With reflect padding the borders are observed like the interior (zero padding would
darken them).

    pip install -e ".[examples]" && python examples/deconvolve.py      # --iterations, --noise, --out, --quiet
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.sparse.linalg import lsqr

from convtranspose.scipy import as_linear_operator

STRIDE = 2
KERNEL = 6          # a 5 x 5 Gaussian blur placed at the four sub-pixel shifts of a 6 x 6 support
PADDING = 2         # (in - 1) * 2 - 2 * 2 + 6 = 2 * in: the high-resolution size is exactly twice the frames'


def load_image(size: int = 128) -> np.ndarray:
    """A grey ``size`` x ``size`` crop of scikit-learn's china.jpg, halved by 2 x 2 means, in [0, 1]."""
    from sklearn.datasets import load_sample_image

    rgb = load_sample_image("china.jpg").astype(np.float64) / 255.0
    grey = rgb @ np.array([0.299, 0.587, 0.114])
    crop = grey[60:60 + 2 * size, 200:200 + 2 * size]
    return crop.reshape(size, 2, size, 2).mean(axis=(1, 3))


def shifted_blurs(sigma: float = 1.0) -> np.ndarray:
    """Weight (4, 1, 6, 6): a normalised 5 x 5 Gaussian at the offsets (0, 0), (0, 1), (1, 0), (1, 1)."""
    r = np.arange(5) - 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    g /= g.sum()
    weight = np.zeros((4, 1, KERNEL, KERNEL))
    for frame, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        weight[frame, 0, dy:dy + 5, dx:dx + 5] = g
    return weight


def psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(estimate, 0, 1) - truth) ** 2)))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="high-resolution side (even)")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--noise", type=float, default=0.002, help="standard deviation of the sensor noise")
    parser.add_argument("--damp", type=float, default=0.05, help="LSQR's Tikhonov damping")
    parser.add_argument("--padding-mode", default="reflect", choices=["reflect", "replicate", "circular", "zeros"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "images" / "deconvolve.png"))
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no picture")
    args = parser.parse_args(argv)

    truth = load_image(args.size)
    low = args.size // STRIDE
    params = dict(stride=STRIDE, padding=PADDING, padding_mode=args.padding_mode)
    A = as_linear_operator(shifted_blurs(), (4, low, low), **params)       # 4 frames -> 1 image
    assert A.output_shape == (1, args.size, args.size)
    rng = np.random.default_rng(args.seed)
    observed = A.H @ truth.ravel()                                          # the four blurred frames
    observed += args.noise * rng.standard_normal(observed.shape)

    # Each LSQR iteration applies A^H once (the frames of the current estimate) and A once.
    from tqdm import tqdm

    bar = tqdm(total=args.iterations, desc="LSQR", unit="it", disable=args.quiet)
    B = A.H
    counted = type(B)(B.shape, matvec=lambda v: (bar.update(1), B @ v)[1], rmatvec=lambda u: A @ u, dtype=B.dtype)
    solution, stop, iterations = lsqr(counted, observed, damp=args.damp, iter_lim=args.iterations, atol=1e-8, btol=1e-8)[:3]
    bar.close()
    estimate = solution.reshape(args.size, args.size)

    frames = observed.reshape(4, low, low)
    nearest = np.kron(frames[0], np.ones((STRIDE, STRIDE)))
    scores = {"observed frame (nearest)": psnr(nearest, truth), "LSQR": psnr(estimate, truth)}
    print(f"LSQR stopped after {iterations} iterations (reason {stop}); PSNR against the original:")
    for name, value in scores.items():
        print(f"  {name:26s} {value:6.2f} dB")

    if not args.quiet:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = [(nearest, f"one of the 4 observed frames\n{low}x{low}, blurred ({scores['observed frame (nearest)']:.1f} dB)"),
                  (estimate, f"LSQR, {iterations} iterations\n{args.size}x{args.size} ({scores['LSQR']:.1f} dB)"),
                  (truth, f"original\n{args.size}x{args.size}")]
        fig, axes = plt.subplots(1, 3, figsize=(10.5, 4.2))
        for ax, (image, title) in zip(axes, panels):
            ax.imshow(np.clip(image, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(title, fontsize=10)
            ax.axis("off")
        fig.suptitle(f"Multi-frame super-resolution: LSQR on convtranspose's operator pair (padding_mode='{args.padding_mode}')", fontsize=11)
        fig.tight_layout(rect=(0, 0, 1, 0.93))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out, dpi=100)
        print(f"wrote {args.out}")
    return scores


if __name__ == "__main__":
    main()
