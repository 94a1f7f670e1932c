"""Golden tests of the terminal text, in English and Chinese."""

from __future__ import annotations

import re

import numpy as np
import pytest

from convtranspose.explain import VIEWS, explain
from convtranspose.render.text import format_number, render_text
from test_explain_golden import GOLDEN, SEED_INPUT, SEED_KERNEL

OUTPUT_HEADERS = {"en": ("output (", "output = sum of the terms (", "interleaved ("), "zh": ("输出特征图 (", "输出 = 各项之和 (", "交错拼接后 (")}
CHECK = {"en": "equals conv_transpose: yes", "zh": "与 conv_transpose 的结果一致：是"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def final_grid(text: str, lang: str) -> np.ndarray:
    """Numbers of the last output grid in ``text`` (header line, column indices, then rows)."""
    lines = text.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith(OUTPUT_HEADERS[lang]))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append([float(v) for v in line.split()[1:]])  # drop the row index
    return np.array(rows)


def _explain(name, lang, view="scatter", color=False):
    params, _ = GOLDEN[name]
    kwargs = {k: v for k, v in params.items() if k != "bias"}
    return render_text(explain(SEED_INPUT, SEED_KERNEL, params.get("bias"), view=view, **kwargs), lang, color)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_text_shows_the_golden_output(name, view, lang):
    text = _explain(name, lang, view)
    np.testing.assert_allclose(final_grid(text, lang), GOLDEN[name][1], atol=1e-9)
    assert text.rstrip().endswith(CHECK[lang])


EXPECTED_LINES = {
    ("stride1", "en"): [
        "Step 3/6: x[0,1] = 1 times the kernel",
        "  stamped at rows 0..1, cols 1..2 because stride (1, 1) puts input (i, j) at (i*1, j*1) = (0, 1)",
        "  rows: (2 - 1)*1 - 2*0 + 1*(2 - 1) + 0 + 1 = 3   (full canvas before the crop: 3)",
        "  x[0,0] is 0, so this copy adds nothing",
    ],
    ("stride1", "zh"): [
        "步骤 3/6：x[0,1] = 1 乘以卷积核",
        "  放在第 0..1 行、第 1..2 列：步长 (1, 1) 把输入 (i, j) 放到 (i*1, j*1) = (0, 1)",
        "  行：(2 - 1)*1 - 2*0 + 1*(2 - 1) + 0 + 1 = 3   （裁剪前的完整画布：3）",
    ],
    ("stride12", "en"): [
        "  stamped at rows 0..1, cols 2..3 because stride (1, 2) puts input (i, j) at (i*1, j*2) = (0, 2)",
        "  cols: (2 - 1)*2 - 2*0 + 1*(2 - 1) + 0 + 1 = 4   (full canvas before the crop: 4)",
    ],
    ("stride12", "zh"): ["  放在第 0..1 行、第 2..3 列：步长 (1, 2) 把输入 (i, j) 放到 (i*1, j*2) = (0, 2)"],
    ("dilation2", "en"): [
        "Step 1/6: the kernel dilated by (2, 2): dilation - 1 zeros between neighbouring taps, so one copy spans 3 x 3",
    ],
    ("dilation2", "zh"): ["步骤 1/6：按膨胀率 (2, 2) 膨胀卷积核：相邻权重之间插入 膨胀率 - 1 个零，一份副本覆盖 3 x 3"],
    ("padding1", "en"): ["Step 7/7: padding (1, 1): crop that many cells from BOTH ends of each axis", "  (v) = removed by padding"],
    ("padding1", "zh"): ["步骤 7/7：填充 (1, 1)：在每个轴的两端各裁剪掉这么多单元", "  (v) = 被填充裁剪掉的单元"],
    ("output_padding", "en"): [
        "Step 8/8: output_padding (1, 1): extra cells at the END side only",
        "  2 [ 8.8][ 9.9][13.2]    2 [R][R][R]",
    ],
    ("output_padding", "zh"): ["步骤 8/8：输出填充 (1, 1)：只在末端一侧增加单元", "  2 [ 8.8][ 9.9][13.2]    2 [R][R][R]"],
    ("bias_only", "en"): [
        "Step 8/8: add the bias 0.5 to every output cell",
        "  3   6.6   8.8   9.9  13.2 [   0]    3  .  .  .  . [B]",
        "  4 [   0][   0][   0][   0][   0]    4 [B][B][B][B][B]",
    ],
    ("bias_only", "zh"): ["步骤 8/8：每个输出单元加上偏置 0.5", "  4 [   0][   0][   0][   0][   0]    4 [B][B][B][B][B]"],
}


@pytest.mark.parametrize("name, lang", sorted(EXPECTED_LINES))
def test_text_explains_each_step(name, lang):
    lines = _explain(name, lang).splitlines()
    for expected in EXPECTED_LINES[(name, lang)]:
        assert expected in lines


def test_seed_running_sum_grid():
    text = _explain("stride1", "en")
    # after x[1,0] = 2: contribution on the left, running sum on the right, written cells bracketed
    assert "  1 [2.2][4.4]   0            1 [2.2][7.7] 4.4" in text.splitlines()


@pytest.mark.parametrize("view", VIEWS)
def test_colour_only_adds_escapes(view):
    plain = _explain("output_padding", "en", view)
    coloured = _explain("output_padding", "en", view, color=True)
    assert "\x1b[" not in plain
    if view in ("scatter", "conv"):
        assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain


def test_views_name_their_idea():
    conv = _explain("padding1", "en", "conv")
    assert "rotate the (dilated) kernel by 180°" in conv
    assert "  rows: start 1*(2 - 1) - 1 = 0, end 0 + 1 = 1" not in conv
    assert "  rows: start 1*(2 - 1) - 1 = 0, end 0 + 0 = 0" in conv
    assert "C^T (1 x 4)" in _explain("padding1", "en", "matrix")
    assert "4 small convolutions, interleaved" in _explain("output_padding", "en", "phase")
    assert "Even overlap" in _explain("output_padding", "en", "overlap")


def test_negative_zero_insertion_padding_is_called_a_crop():
    text = render_text(explain([1.0, 2.0, 3.0, 4.0], [1.0, 2.0], padding=2, view="conv"))
    assert "  length: start 1*(2 - 1) - 2 = -1, end -1 + 0 = -1" in text.splitlines()
    assert "a negative amount is a crop" in text


def test_uneven_overlap_warns_in_both_languages():
    x, k = [[1.0, 2.0], [3.0, 4.0]], np.ones((3, 3))
    en = render_text(explain(x, k, stride=2, view="overlap"))
    zh = render_text(explain(x, k, stride=2, view="overlap"), "zh")
    assert "rows: taps per phase (canvas position mod 2) = (2, 1) -> uneven" in en
    assert "Warning: uneven overlap on rows, cols." in en and "checkerboard artifacts" in en
    assert "棋盘格伪影" in zh and "不均匀" in zh


def test_channel_note():
    from convtranspose.explain import channel_summary

    text = render_text(explain(SEED_INPUT, SEED_KERNEL, channels=channel_summary(4, 6, 2, (2, 2))))
    assert "Channels: 4 in, 6 out, 2 group(s); weight shape (4, 3, 2, 2)." in text


@pytest.mark.parametrize(
    "value, text", [(11.0, "11"), (1.1 * 3, "3.3"), (-0.0, "0"), (18.7, "18.7"), (0.125, "0.125"), (-2.5, "-2.5")]
)
def test_format_number(value, text):
    assert format_number(value) == text
