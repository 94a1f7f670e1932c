"""Shared look of the figures: colours, fonts, number formatting and the figure strings.

Every figure uses the same colour for the same meaning (the input, the kernel, the current
contribution, cells cropped by padding, cells added by output_padding, ...), so a reader who learned
the legend on one picture can read the next one without it.

Chinese text needs a CJK font. :func:`font_family` looks for one among matplotlib's known fonts
(``WenQuanYi Micro Hei`` first, from the Debian package ``fonts-wqy-microhei``) and, when none is
installed, warns once and falls back to the default font: the picture is still produced, with
missing glyphs drawn as boxes.
"""

from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np

__all__ = [
    "COLORS",
    "HATCH_CROPPED",
    "HATCH_HOLE",
    "CJK_FONT_CANDIDATES",
    "MissingCJKFontWarning",
    "font_family",
    "cjk_font",
    "fmt_number",
    "fmt_index",
    "fmt_tuple",
    "text",
    "LANGUAGES",
]

LANGUAGES = ("en", "zh")

#: Colour of every meaning, shared by all figures (colour-blind friendly: Okabe-Ito based).
COLORS = {
    "input": "#cfe3f5",  # input feature map cells
    "input_current": "#f5a623",  # the input element of the current scatter step
    "kernel": "#d9f0d3",  # kernel taps
    "hole": "#f4f4f4",  # dilation holes / inserted zeros
    "canvas": "#ffffff",  # canvas cells not reached yet
    "reached": "#fdf1dc",  # canvas cells that received something in an earlier step
    "current": "#f9c784",  # cells receiving the current contribution
    "outline": "#d1495b",  # outline of the current kernel copy / current window
    "window": "#1b4965",  # the output window (kept by the crop)
    "cropped": "#c9c9c9",  # cells removed by padding
    "recovered": "#bfa8ea",  # output_padding cells: padding would have cropped them
    "bias_only": "#fff3a0",  # output_padding cells past the canvas: bias only
    "folded": "#9ed9c5",  # output cells that receive border values (padding_mode other than zeros)
    "output": "#f0f0f0",  # output cells
    "pad": "#eeeeee",  # zero padding of the zero-insertion view
    "edge": "#5b5b5b",  # cell borders
    "text": "#1a1a1a",
    "muted": "#8a8a8a",  # zeros, index labels
}

HATCH_CROPPED = "///"
HATCH_HOLE = ""

#: CJK fonts tried in order for ``lang="zh"``.
CJK_FONT_CANDIDATES = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
)

_LATIN_FAMILY = "DejaVu Sans"


class MissingCJKFontWarning(UserWarning):
    """No CJK font is installed: Chinese figures fall back to a font without Chinese glyphs."""


def _installed_font_names() -> set[str]:
    from matplotlib import font_manager

    return {entry.name for entry in font_manager.fontManager.ttflist}


def cjk_font() -> Optional[str]:
    """The first installed font of :data:`CJK_FONT_CANDIDATES`, or None."""
    installed = _installed_font_names()
    return next((name for name in CJK_FONT_CANDIDATES if name in installed), None)


def font_family(lang: str) -> list[str]:
    """Font family list for ``lang`` (matplotlib falls back along the list glyph by glyph).

    Examples
    --------
    >>> font_family("en")
    ['DejaVu Sans']
    """
    if lang != "zh":
        return [_LATIN_FAMILY]
    found = cjk_font()
    if found is not None:
        return [found, _LATIN_FAMILY]
    warnings.warn(
        "no CJK font found for lang='zh' (tried "
        + ", ".join(CJK_FONT_CANDIDATES[:3])
        + ", ...); Chinese characters will be missing from the figure. "
        "On Debian/Ubuntu: apt-get install fonts-wqy-microhei",
        MissingCJKFontWarning,
        stacklevel=3,
    )
    return [_LATIN_FAMILY]


def fmt_number(value: float) -> str:
    """Compact cell label: three significant digits, no trailing zeros, no ``-0``.

    Examples
    --------
    >>> [fmt_number(v) for v in (0.0, -0.0, 1.1, 3.3000000000000003, 18.7, 1234.5, 0.000123, 1.5e-5)]
    ['0', '0', '1.1', '3.3', '18.7', '1.23e3', '0.000123', '1.5e-5']
    """
    if value == 0 or abs(value) < 5e-13:
        return "0"
    label = f"{value:.3g}"
    if "e" in label:
        mantissa, exponent = label.split("e")
        label = f"{mantissa}e{int(exponent)}"
    return label


def fmt_index(index: Sequence[int]) -> str:
    """``(1, 2)`` -> ``"1,2"`` (for ``x[1,2]``)."""
    return ",".join(str(int(i)) for i in index)


def fmt_tuple(values: Sequence[int]) -> str:
    """One value per axis: a bare number in 1-d, ``(a, b)`` in 2-d."""
    values = tuple(int(v) for v in values)
    return str(values[0]) if len(values) == 1 else "(" + ", ".join(str(v) for v in values) + ")"


def max_label_length(arrays: Sequence[np.ndarray]) -> int:
    """Longest :func:`fmt_number` label over all cells of ``arrays``."""
    longest = 1
    for array in arrays:
        for value in np.asarray(array, dtype=float).ravel():
            longest = max(longest, len(fmt_number(float(value))))
    return longest


# --------------------------------------------------------------------------------------------
# Figure strings (short labels sized for panels; the explainer's sentences are longer)
# --------------------------------------------------------------------------------------------

_STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "input": "Input x",
        "kernel": "Kernel K",
        "dilated_kernel": "Dilated kernel (dilation {dilation})",
        "canvas": "Full canvas: running sum",
        "canvas_final": "Full canvas",
        "output": "Output",
        "output_before_bias": "Output (before bias)",
        "output_with_bias": "Output (with bias {bias})",
        "step": "Step {number}/{total}",
        "params": "stride {stride}   padding {padding}   output_padding {output_padding}   dilation {dilation}",
        "shape_line": "input {input_shape} → full canvas {full_shape} → output {output_shape}",
        "s_dilate_1": "The kernel, as every input element will stamp it (dilation 1: no holes).",
        "s_dilate": "Dilation {dilation}: {holes} zero(s) between neighbouring kernel taps.",
        "s_scatter": "x[{index}] = {value}, times the kernel, is added onto the canvas at offset {offset} "
        "(= index × stride {stride}).",
        "s_full": "Every input element has been stamped: the full canvas {shape}.",
        "s_crop": "padding {padding} crops {padding_cells} from both ends of each axis: {kept} stays.",
        "s_crop_cells": "{p} cell(s)",
        "s_output_padding": "output_padding {output_padding} adds cell(s) at the END of each axis only.",
        "s_crop_pairs": "padding crops (before, after) = {pads} cells of each axis; {kept} cells remain.",
        "s_fold_reflect": "padding_mode 'reflect': the {count} border cell(s) are added back onto the cells they mirror (edge not repeated).",
        "s_fold_replicate": "padding_mode 'replicate': the {count} border cell(s) are added onto the edge cells.",
        "s_fold_circular": "padding_mode 'circular': the {count} border cell(s) wrap around onto the opposite end.",
        "fold_panel": "Border folded back ({mode})",
        "params_mode": "   padding_mode {mode}",
        "legend_folded": "receives folded border values",
        "s_bias": "The bias {bias} is added to every output cell.",
        "times_value": "× {value}",
        "contribution_caption": "x[{index}] = {value} at {offset}",
        "storyboard_title": "Transposed convolution: every input element stamps a scaled kernel copy",
        "sum_caption": "sum of the {count} copies",
        "legend_current_input": "current input element",
        "legend_current_copy": "current kernel copy",
        "legend_current": "receives x·K in this step",
        "legend_reached": "reached earlier",
        "legend_copy": "one kernel copy (x·K)",
        "legend_hole": "dilation hole (zero)",
        "legend_cropped": "cropped by padding",
        "legend_border_folded": "border: folded back onto the output (padding_mode)",
        "legend_window": "output window",
        "legend_recovered": "output_padding: would have been cropped",
        "legend_bias_only": "output_padding: no contribution (bias only)",
        # zero-insertion view
        "zi_title": "Same result as an ordinary convolution: insert zeros, pad, slide the flipped kernel",
        "zi_inserted": "{zeros} zero(s) inserted between inputs",
        "zi_inserted_none": "stride 1: nothing inserted",
        "zi_padded": "Padded: {before} before, {after} after",
        "zi_padded_crop": "Cropped/padded: {before} before, {after} after (negative = crop)",
        "zi_flipped": "Kernel rotated 180°",
        "zi_window": "window at {position}",
        "zi_step": "Output[{index}] = sum of window × flipped kernel = {value}",
        "legend_inserted": "inserted zero",
        "legend_padding_zero": "zero padding",
        "legend_input_value": "input value",
        "legend_window_cells": "current window",
        # matrix view
        "mx_title": "Same result as a matrix product: output = Cᵀ · x",
        "mx_matrix": "Cᵀ ({rows} × {cols})",
        "mx_vector": "x (flattened)",
        "mx_product": "Cᵀx",
        "mx_output": "Output {shape}",
        "mx_note": "C is the matrix of the ordinary convolution with the same kernel, stride, padding, dilation.",
        # phase view
        "ph_title": "Same result as {count} small convolutions, interleaved (sub-pixel phases)",
        "ph_phase": "Phase {residue}",
        "ph_sub_kernel": "sub-kernel",
        "ph_values": "values",
        "ph_empty": "no tap lands here: bias only",
        "ph_output": "Output, coloured by phase",
        "ph_step": "Phase {residue}: taps {taps} form a {shape} sub-kernel; its results fill every "
        "{stride}-th output cell",
        "ph_step_empty": "Phase {residue}: no kernel tap lands on it, its cells hold the bias only",
        # overlap view
        "ov_title": "How many (input × tap) terms reach each output cell",
        "ov_counts": "Terms per output cell",
        "ov_output": "Output",
        "ov_axis": "axis {axis}: taps per phase {counts}",
        "ov_even": "Even overlap: interior cells all sum the same number of terms.",
        "ov_uneven": "Uneven overlap: neighbouring cells sum different numbers of terms "
        "(checkerboard artifacts).",
        "ov_gaps": "Some phases get no term: those cells hold only the bias.",
        "gif_unavailable": "fmt='gif' animates the steps of the scatter trace, the zero-insertion "
        "(conv) view and the phase view; the {view} view has no steps to animate: use fmt='png' or fmt='svg'",
    },
    "zh": {
        "input": "输入特征图 x",
        "kernel": "卷积核 K",
        "dilated_kernel": "膨胀后的卷积核（膨胀率 {dilation}）",
        "canvas": "完整画布：累加和",
        "canvas_final": "完整画布",
        "output": "输出特征图",
        "output_before_bias": "输出特征图（加偏置前）",
        "output_with_bias": "输出特征图（含偏置 {bias}）",
        "step": "步骤 {number}/{total}",
        "params": "步长 {stride}   填充 {padding}   输出填充 {output_padding}   膨胀率 {dilation}",
        "shape_line": "输入 {input_shape} → 完整画布 {full_shape} → 输出 {output_shape}",
        "s_dilate_1": "卷积核原样使用（膨胀率 1，没有空洞），每个输入元素都会盖上一份。",
        "s_dilate": "膨胀率 {dilation}：相邻权重之间插入 {holes} 个零。",
        "s_scatter": "x[{index}] = {value} 乘以卷积核，累加到画布偏移 {offset} 处（= 下标 × 步长 {stride}）。",
        "s_full": "所有输入元素都已盖上：完整画布 {shape}。",
        "s_crop": "填充 {padding}：从每个轴的两端各裁剪 {padding_cells}，保留 {kept}。",
        "s_crop_cells": "{p} 个单元",
        "s_output_padding": "输出填充 (output_padding) {output_padding}：只在每个轴的末端增加单元。",
        "s_crop_pairs": "填充在每个轴上裁剪 (前, 后) = {pads} 个单元；剩下 {kept} 个单元。",
        "s_fold_reflect": "填充模式 'reflect'：{count} 个边界单元被加回到它们镜像对应的单元上（不重复边缘）。",
        "s_fold_replicate": "填充模式 'replicate'：{count} 个边界单元被加到边缘单元上。",
        "s_fold_circular": "填充模式 'circular'：{count} 个边界单元循环折回到另一端。",
        "fold_panel": "折回的边界值（{mode}）",
        "params_mode": "   填充模式 {mode}",
        "legend_folded": "接收折回的边界值",
        "s_bias": "偏置 {bias} 加到每个输出单元上。",
        "times_value": "× {value}",
        "contribution_caption": "x[{index}] = {value}，偏移 {offset}",
        "storyboard_title": "转置卷积：每个输入元素盖上一份按其数值缩放的卷积核",
        "sum_caption": "{count} 份副本之和",
        "legend_current_input": "当前输入元素",
        "legend_current_copy": "当前卷积核副本",
        "legend_current": "本步写入 x·K 的单元",
        "legend_reached": "之前已累加",
        "legend_copy": "一份卷积核副本 (x·K)",
        "legend_hole": "膨胀空洞（零）",
        "legend_cropped": "被填充裁剪",
        "legend_border_folded": "边界：折回到输出上（填充模式）",
        "legend_window": "输出窗口",
        "legend_recovered": "输出填充：本会被裁剪的值",
        "legend_bias_only": "输出填充：无贡献（仅偏置）",
        "zi_title": "等价的普通卷积：插零、填充，再用旋转 180° 的卷积核滑动",
        "zi_inserted": "输入之间插零（每处 {zeros} 个）",
        "zi_inserted_none": "步长 1：无需插零",
        "zi_padded": "填充：前 {before}，后 {after}",
        "zi_padded_crop": "填充/裁剪：前 {before}，后 {after}（负数表示裁剪）",
        "zi_flipped": "旋转 180° 的卷积核",
        "zi_window": "窗口位置 {position}",
        "zi_step": "输出[{index}] = 窗口与旋转后的卷积核逐元素相乘再求和 = {value}",
        "legend_inserted": "插入的零",
        "legend_padding_zero": "填充的零",
        "legend_input_value": "输入值",
        "legend_window_cells": "当前窗口",
        "mx_title": "等价的矩阵乘法：输出 = Cᵀ · x",
        "mx_matrix": "Cᵀ（{rows} × {cols}）",
        "mx_vector": "x（展平）",
        "mx_product": "Cᵀx",
        "mx_output": "输出特征图 {shape}",
        "mx_note": "C 是同一卷积核、步长、填充、膨胀率的普通卷积的矩阵。",
        "ph_title": "等价的 {count} 个小卷积交错拼合（子像素相位）",
        "ph_phase": "相位 {residue}",
        "ph_sub_kernel": "子卷积核",
        "ph_values": "结果",
        "ph_empty": "没有权重落在此相位：仅偏置",
        "ph_output": "输出特征图（按相位着色）",
        "ph_step": "相位 {residue}：权重 {taps} 组成 {shape} 的子卷积核，结果写入每隔 {stride} 个的输出单元",
        "ph_step_empty": "相位 {residue}：没有权重落在此相位，这些单元仅含偏置",
        "ov_title": "每个输出单元收到多少项（输入 × 权重）",
        "ov_counts": "每个输出单元的项数",
        "ov_output": "输出特征图",
        "ov_axis": "第 {axis} 轴：各相位的权重数 {counts}",
        "ov_even": "重叠均匀：内部单元的项数都相同。",
        "ov_uneven": "重叠不均匀：相邻单元的项数不同（棋盘格伪影的成因）。",
        "ov_gaps": "有的相位收不到任何项：这些单元仅含偏置。",
        "gif_unavailable": "fmt='gif' 只能为散射步骤 (scatter)、插零卷积 (conv) 和相位 (phase) 视图生成动画；"
        "{view} 视图没有可动画的步骤，请使用 fmt='png' 或 fmt='svg'",
    },
}


#: Figure keys taken from the explainer's catalogue (:mod:`convtranspose.i18n`), so the
#: text output and the pictures name things alike. English labels are capitalized as titles.
_SHARED = {
    "input": "input_label",
    "kernel": "kernel_label",
    "output": "output_label",
    "formula": "formula",
    "zi_flipped": "flip_after",
    "ph_sub_kernel": "phase_sub_kernel",
    "ov_counts": "counts_label",
}

_TITLES = {"input", "kernel", "output", "zi_flipped", "ov_counts"}


def text(lang: str, key: str, **values: object) -> str:
    """The figure string ``key`` in ``lang`` with ``values`` filled in.

    Examples
    --------
    >>> text("en", "step", number=2, total=5)
    'Step 2/5'
    >>> text("zh", "step", number=2, total=5)
    '步骤 2/5'
    >>> text("en", "input")
    'Input x'
    """
    if key in _SHARED:
        from ..i18n import tr

        label = tr(lang, _SHARED[key], **values)
        return label[:1].upper() + label[1:] if lang == "en" and key in _TITLES else label
    return _STRINGS[lang][key].format(**values)
