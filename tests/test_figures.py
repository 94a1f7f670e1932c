"""Figure renderers: every view x {png, svg} x {en, zh}, GIF frame counts, errors, a parameter sweep."""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from convtranspose.errors import ParameterError, ParameterTypeError  # noqa: E402
from convtranspose.explain import VIEWS, explain  # noqa: E402
from convtranspose.explain.limits import TooLargeToDrawError  # noqa: E402
from convtranspose.render import _style  # noqa: E402
from convtranspose.render.figures import gif_frame_count, render_figure  # noqa: E402

SEED = dict(input=[[0.0, 1.0], [2.0, 3.0]], kernel=[[1.1, 2.2], [3.3, 4.4]])
STRIDE2 = dict(
    input=[[0.0, 1.0], [2.0, 3.0]],
    kernel=[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
    stride=2,
    padding=1,
    output_padding=1,
)
SVG_NS = "{http://www.w3.org/2000/svg}"


def _svg_texts(path) -> list[str]:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg"
    return ["".join(element.itertext()) for element in root.iter(f"{SVG_NS}text")]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("view", VIEWS)
def test_png_every_view_opens_with_pillow(tmp_path, view, lang):
    path = tmp_path / f"{view}.png"
    render_figure(explain(**STRIDE2, view=view), "png", str(path), lang)
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert 300 <= width <= 4000 and 200 <= height <= 4000


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("view", VIEWS)
def test_svg_every_view_is_svg_with_text(tmp_path, view, lang):
    path = tmp_path / f"{view}.svg"
    render_figure(explain(**SEED, view=view), "svg", str(path), lang)
    texts = _svg_texts(path)
    assert len(texts) > 10
    joined = " ".join(texts)
    if lang == "zh":
        assert any("\u4e00" <= ch <= "\u9fff" for ch in joined)  # Chinese characters present
    else:
        assert "Input" in joined


def test_svg_texts_name_the_step_and_values(tmp_path):
    path = tmp_path / "seed.svg"
    render_figure(explain(**SEED), "svg", str(path))
    texts = _svg_texts(path)
    # Cell values of the seed example (the expected output written out by hand).
    for value in ("1.1", "2.2", "11", "6.6", "18.7", "13.2"):
        assert value in texts
    # (was an `or` that always held: "formula" is in the figure's caption whatever its numbers)
    assert "Output size formula: out = (in - 1)*stride - 2*padding + dilation*(kernel - 1) +" in texts


def _expected_trace_frames(trace) -> int:
    # dilate-kernel frame + one per input element + full canvas + crop/output_padding/bias if present
    problem = trace.problem
    return (
        1
        + problem.input.size
        + 1
        + int(any(problem.padding))
        + int(any(problem.output_padding))
        + int(problem.bias is not None)
    )


@pytest.mark.parametrize(
    "case, frames",
    [
        (SEED, 1 + 4 + 1),  # dilate-kernel frame, 4 input elements, full canvas
        (STRIDE2, 1 + 4 + 1 + 1 + 1),  # ... + crop + output_padding
        (dict(input=[1.0, -2.0, 0.5], kernel=[1.0, 2.0], stride=3, dilation=2, output_padding=2, bias=0.5),
         1 + 3 + 1 + 1 + 1),  # ... + output_padding + bias
    ],
    ids=["seed", "stride2-pad1-op1", "1d-dilated-bias"],
)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_gif_has_one_frame_per_trace_step(tmp_path, case, frames, lang):
    trace = explain(**case)
    path = tmp_path / "trace.gif"
    render_figure(trace, "gif", str(path), lang)
    with Image.open(path) as image:
        assert image.format == "GIF"
        assert image.n_frames == len(trace.steps) == _expected_trace_frames(trace) == frames
        assert image.info.get("loop") == 0
        sizes = set()
        for frame in range(image.n_frames):
            image.seek(frame)
            sizes.add(image.size)
    assert len(sizes) == 1
    # the frames actually written and the hand count, not len(trace.steps) (what it returns)
    assert gif_frame_count(trace) == image.n_frames == frames


def test_gif_of_conv_and_phase_views(tmp_path):
    conv = explain(**SEED, view="conv")
    phase = explain(**STRIDE2, view="phase")
    # by hand: the seed's 3 x 3 output cells, and stride (2, 2)'s 4 phases, each after a title frame
    for name, view, expected in (("conv", conv, 1 + 9), ("phase", phase, 1 + 4)):
        path = tmp_path / f"{name}.gif"
        render_figure(view, "gif", str(path))
        with Image.open(path) as image:
            assert image.n_frames == expected == gif_frame_count(view)


@pytest.mark.parametrize("view", ["matrix", "overlap"])
def test_gif_unavailable_views_raise_value_error(tmp_path, view):
    with pytest.raises(ParameterError, match="gif") as info:
        render_figure(explain(**SEED, view=view), "gif", str(tmp_path / "x.gif"))
    assert isinstance(info.value, ValueError)
    assert "scatter" in str(info.value) and "phase" in str(info.value)
    assert not (tmp_path / "x.gif").exists()


def test_conv_gif_too_many_cells_raises(tmp_path):
    view = explain(np.ones((6, 6)), np.ones((3, 3)), stride=2, view="conv")  # 13 x 13 output cells
    with pytest.raises(TooLargeToDrawError, match="one frame per output cell"):
        render_figure(view, "gif", str(tmp_path / "x.gif"))


def test_bad_arguments(tmp_path):
    trace = explain(**SEED)
    with pytest.raises(ParameterError, match="fmt must be one of png, svg, gif"):
        render_figure(trace, "jpg", str(tmp_path / "x.jpg"))
    with pytest.raises(ParameterError, match="lang must be one of en, zh"):
        render_figure(trace, "png", str(tmp_path / "x.png"), lang="fr")
    with pytest.raises(ParameterTypeError, match="explanation"):
        render_figure(np.zeros(3), "png", str(tmp_path / "x.png"))


def test_uppercase_format_accepted(tmp_path):
    render_figure(explain(**SEED), "PNG", str(tmp_path / "x.png"))
    with Image.open(tmp_path / "x.png") as image:
        assert image.format == "PNG"


def test_missing_cjk_font_warns_and_still_draws(tmp_path, monkeypatch):
    monkeypatch.setattr(_style, "CJK_FONT_CANDIDATES", ("No Such Font CJK",))
    path = tmp_path / "zh.png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # matplotlib's own missing-glyph warnings
        warnings.simplefilter("always", _style.MissingCJKFontWarning)
        with pytest.warns(_style.MissingCJKFontWarning, match="fonts-wqy-microhei"):
            render_figure(explain(**SEED, view="overlap"), "png", str(path), lang="zh")
    with Image.open(path) as image:
        assert image.size[0] > 100


def test_cjk_font_is_found_here():
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    family = _style.font_family("zh")
    if family[0] == "DejaVu Sans":
        pytest.skip("no CJK font installed on this machine")
    # Not "in CJK_FONT_CANDIDATES" (the list it was picked from): the font must really be installed
    # and really draw Chinese -- its file has glyphs for the explainer's words.
    path = font_manager.findfont(font_manager.FontProperties(family=family[0]), fallback_to_default=False)
    font = FT2Font(path)
    assert all(font.get_char_index(ord(ch)) != 0 for ch in "转置卷积输入输出"), (family[0], path)


@pytest.mark.parametrize(
    "params",
    [
        dict(stride=1, padding=0, output_padding=0, dilation=1),
        dict(stride=2, padding=0, output_padding=1, dilation=1),
        dict(stride=(1, 3), padding=(0, 1), output_padding=(0, 2), dilation=1),
        dict(stride=1, padding=1, output_padding=1, dilation=2),
        dict(stride=2, padding=2, output_padding=0, dilation=3),
        dict(stride=3, padding=(2, 0), output_padding=(1, 2), dilation=(2, 1)),
    ],
)
def test_parameter_sweep_renders_every_view(tmp_path, params):
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=(2, 3)), 2)
    k = np.round(rng.normal(size=(2, 2)), 2)
    for view in VIEWS:
        explanation = explain(x, k, bias=0.25, view=view, **params)
        path = tmp_path / f"{view}.png"
        render_figure(explanation, "png", str(path))
        with Image.open(path) as image:
            image.verify()


def test_largest_allowed_problem_renders(tmp_path):
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=(8, 8)), 1)
    k = np.round(rng.normal(size=(5, 5)), 1)
    trace = explain(x, k, stride=5, padding=2, output_padding=1)  # 40 x 40 canvas, 64 steps
    path = tmp_path / "big.png"
    render_figure(trace, "png", str(path))
    with Image.open(path) as image:
        assert max(image.size) <= 6000
