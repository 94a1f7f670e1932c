"""Recover a high-resolution image from blurred, strided observations with LSQR on the operator pair.

A camera that blurs the scene and samples every other pixel is an ordinary strided convolution. One
such observation has a quarter of the unknowns; four of them, taken with the sensor shifted by one
high-resolution pixel right and/or down (multi-frame super-resolution), are enough to pin the image
down. The four shifted blurs are the four channels of one weight, so the transposed convolution
``A = as_linear_operator(psf, (4, n/2, n/2), stride=2, padding=2, padding_mode='reflect')`` maps four
low-resolution frames to one n x n image, and its exact adjoint ``A^H`` (``convtranspose.conv`` with the
same arguments) maps an image to its four frames: the forward model. SciPy's LSQR solves
``min ||A^H x - y||^2 + damp^2 ||x - x0||^2`` using only ``A`` and ``A^H`` (never a matrix), starting
from (and damped towards) ``x0``, the four frames interleaved into one blurred n x n image.

The boundary is where the padding mode matters. The frames are taken of the real scene, which goes
on beyond the n x n window: the blur near the edge mixes in pixels the reconstruction does not
include. The model has to assume something there, and its padding mode says what: ``'reflect'``
assumes the scene mirrors at the edge, close to the truth for a natural image; ``'zeros'`` assumes
black, so LSQR brightens the edge pixels to explain the light that came from outside. The example
solves with the chosen mode (default reflect) and, for comparison, with the other three, and reports
the PSNR over the whole image and over its border ring.

The image is scikit-learn's bundled ``china.jpg`` (no download), in grey, cropped and halved to
128 x 128 (the observations see 2 more pixels of the photograph on every side).

    pip install -e ".[examples]" && python examples/deconvolve.py      # --iterations, --noise, --out, --quiet
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.sparse.linalg import LinearOperator, lsqr

from convtranspose import conv
from convtranspose.scipy import as_linear_operator

STRIDE = 2
KERNEL = 6          # a 5 x 5 Gaussian blur placed at the four sub-pixel shifts of a 6 x 6 support
PADDING = 2         # (in - 1) * 2 - 2 * 2 + 6 = 2 * in: the high-resolution size is exactly twice the frames'
RING = 8            # width of the border ring whose PSNR shows the boundary model


def load_scene(size: int = 128, margin: int = PADDING) -> np.ndarray:
    """A grey crop of scikit-learn's china.jpg, halved by 2 x 2 means, in [0, 1]: ``size`` x ``size``
    plus ``margin`` pixels of the photograph on every side."""
    from sklearn.datasets import load_sample_image

    rgb = load_sample_image("china.jpg").astype(np.float64) / 255.0
    grey = rgb @ np.array([0.299, 0.587, 0.114])
    side = size + 2 * margin
    top, left = 60 - 2 * margin, 200 - 2 * margin
    crop = grey[top:top + 2 * side, left:left + 2 * side]
    return crop.reshape(side, 2, side, 2).mean(axis=(1, 3))


def shifted_blurs(sigma: float = 1.0) -> np.ndarray:
    """Weight (4, 1, 6, 6): a normalised 5 x 5 Gaussian at the offsets (0, 0), (0, 1), (1, 0), (1, 1)."""
    r = np.arange(5) - 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    g /= g.sum()
    weight = np.zeros((4, 1, KERNEL, KERNEL))
    for frame, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        weight[frame, 0, dy:dy + 5, dx:dx + 5] = g
    return weight


def psnr(estimate: np.ndarray, truth: np.ndarray, ring: int = 0) -> float:
    """Peak signal-to-noise ratio in dB (peak 1), over the whole image or over its outer ``ring`` pixels."""
    error = (np.clip(estimate, 0, 1) - truth) ** 2
    if ring:
        inner = np.zeros(truth.shape, bool)
        inner[ring:-ring, ring:-ring] = True
        error = error[~inner]
    return float(10 * np.log10(1.0 / np.mean(error)))


def interleave(frames: np.ndarray) -> np.ndarray:
    """The four frames as one image: frame (dy, dx) holds the pixels (2i + dy, 2j + dx), blurred."""
    low = frames.shape[-1]
    image = np.empty((STRIDE * low, STRIDE * low))
    for frame, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        image[dy::STRIDE, dx::STRIDE] = frames[frame]
    return image


def reconstruct(frames: np.ndarray, weight: np.ndarray, mode: str, damp: float, iterations: int,
                quiet: bool) -> tuple[np.ndarray, int]:
    """LSQR on ``A^H x = frames`` with the model's ``padding_mode``, from the interleaved frames.

    A progress bar counts the iterations.
    """
    from tqdm import tqdm

    low = frames.shape[-1]
    A = as_linear_operator(weight, (4, low, low), stride=STRIDE, padding=PADDING, padding_mode=mode)
    start = interleave(frames)
    # Each LSQR iteration applies A^H once (the frames of the current estimate) and A once.
    with tqdm(total=iterations, desc=f"LSQR, {mode}", unit="it", disable=quiet) as bar:
        B = A.H
        counted = LinearOperator(B.shape, matvec=lambda v: (bar.update(1), B @ v)[1], rmatvec=lambda u: A @ u,
                                 dtype=B.dtype)
        solution, _, done = lsqr(counted, frames.ravel(), damp=damp, iter_lim=iterations, atol=1e-8, btol=1e-8,
                                 x0=start.ravel())[:3]
    return solution.reshape(start.shape), int(done)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="high-resolution side (even)")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--noise", type=float, default=0.002, help="standard deviation of the sensor noise")
    parser.add_argument("--damp", type=float, default=0.05, help="LSQR's Tikhonov damping")
    parser.add_argument("--padding-mode", default="reflect", choices=["reflect", "replicate", "circular", "zeros"],
                        help="the boundary assumption of the reconstruction shown (the other modes are solved for comparison)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "images" / "deconvolve.png"))
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no picture")
    args = parser.parse_args(argv)

    size, low = args.size, args.size // STRIDE
    weight = shifted_blurs()
    scene = load_scene(size)                                   # the window plus the world around it
    truth = scene[PADDING:-PADDING, PADDING:-PADDING]
    # The camera: the real scene, blurred and sampled (an unpadded conv of the larger view), plus noise.
    frames = conv(scene[None, None], weight, stride=STRIDE)[0]  # (4, low, low)
    assert frames.shape == (4, low, low)
    frames = frames + args.noise * np.random.default_rng(args.seed).standard_normal(frames.shape)

    modes = [args.padding_mode] + [m for m in ("reflect", "replicate", "circular", "zeros") if m != args.padding_mode]
    estimates, iterations = {}, 0
    for mode in modes:
        estimates[mode], done = reconstruct(frames, weight, mode, args.damp, args.iterations, args.quiet)
        iterations = iterations or done
    estimate = estimates[args.padding_mode]

    nearest = np.kron(frames[0], np.ones((STRIDE, STRIDE)))
    scores = {"one frame, nearest": psnr(nearest, truth), "4 frames interleaved": psnr(interleave(frames), truth)}
    for mode in modes:
        key = "LSQR" if mode == args.padding_mode else f"LSQR {mode}"
        scores[key], scores[f"{key} border"] = psnr(estimates[mode], truth), psnr(estimates[mode], truth, RING)
    print(f"LSQR: {iterations} iterations; PSNR against the original (whole image / outer {RING}-pixel ring):")
    print(f"  {'one observed frame, nearest':36s} {scores['one frame, nearest']:6.2f} dB")
    print(f"  {'the 4 frames interleaved (blurred)':36s} {scores['4 frames interleaved']:6.2f} dB")
    for mode in modes:
        key = "LSQR" if mode == args.padding_mode else f"LSQR {mode}"
        print(f"  {f'LSQR, padding_mode={mode!r}':36s} {scores[key]:6.2f} dB / {scores[key + ' border']:6.2f} dB")

    if not args.quiet:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = [
            (nearest, f"before: one of the 4 observed frames\n{low}x{low}, blurred ({scores['one frame, nearest']:.1f} dB)"),
            (estimate, f"after: LSQR, padding_mode={args.padding_mode!r}\n"
                       f"{iterations} iterations ({scores['LSQR']:.1f} dB; border {scores['LSQR border']:.1f} dB)"),
        ]
        if args.padding_mode != "zeros":
            panels.append((estimates["zeros"], f"LSQR, padding_mode='zeros'\n"
                                               f"({scores['LSQR zeros']:.1f} dB; border {scores['LSQR zeros border']:.1f} dB)"))
        panels.append((truth, f"original\n{size}x{size}"))
        fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 4.0))
        for ax, (image, title) in zip(axes, panels):
            ax.imshow(np.clip(image, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        fig.suptitle("Multi-frame super-resolution: LSQR on convtranspose's operator pair", fontsize=11)
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out, dpi=100)
        plt.close(fig)
        print(f"wrote {args.out}")
    return scores


if __name__ == "__main__":
    main()
