"""Message catalogue of the explainer, in English ("en") and Simplified Chinese ("zh").

Chinese terms follow the project glossary: 转置卷积, 卷积, 卷积核, 输入/输出特征图, 通道, 步长, 填充,
输出填充 (output_padding), 膨胀, 分组, 偏置, 权重, 上采样, 输出尺寸公式, 裁剪, 插零, 棋盘格伪影,
步骤, 累加和.

Examples
--------
>>> tr("zh", "check_yes")
'与 conv_transpose 的结果一致：是'
>>> tr("en", "step_header", n=2, total=7, title="x")
'Step 2/7: x'
"""

from __future__ import annotations

import re

from .errors import ParameterError

__all__ = ["LANGUAGES", "tr", "check_lang", "ui_strings", "localize_error"]

LANGUAGES = ("en", "zh")

_MESSAGES: dict[str, tuple[str, str]] = {
    # ---- common -------------------------------------------------------------------------
    "axis_rows": ("rows", "行"),
    "axis_cols": ("cols", "列"),
    "axis_length": ("length", "长度"),
    "params": (
        "input {input_shape}, kernel {kernel_shape}, stride {stride}, padding {padding}, "
        "output_padding {output_padding}, dilation {dilation}",
        "输入 {input_shape}，卷积核 {kernel_shape}，步长 {stride}，填充 {padding}，"
        "输出填充 (output_padding) {output_padding}，膨胀率 {dilation}",
    ),
    "params_bias": (", bias {bias}", "，偏置 {bias}"),
    "params_mode": (", padding_mode {mode}", "，填充模式 (padding_mode) {mode}"),
    "formula_line_pairs": (
        "  {axis}: ({n} - 1)*{s} - ({b} + {a}) + {d}*({k} - 1) + {op} + 1 = {out}   "
        "(crop {b} at the start, {a} at the end of the full canvas: {full})",
        "  {axis}：({n} - 1)*{s} - ({b} + {a}) + {d}*({k} - 1) + {op} + 1 = {out}   "
        "（在完整画布 {full} 的开头裁剪 {b}、末端裁剪 {a}）",
    ),
    "formula_same": (
        "    'same': total crop {d}*({k} - 1) + 1 - {s} + {op} = {total}, split ({b}, {a}): the odd cell at the end,"
        " so out = {n}*{s} = {out}",
        "    'same'：总裁剪量 {d}*({k} - 1) + 1 - {s} + {op} = {total}，分为 ({b}, {a})：多出的一个单元在末端，"
        "所以 out = {n}*{s} = {out}",
    ),
    "formula_same_lower": (
        "    'same_lower': total crop {d}*({k} - 1) + 1 - {s} + {op} = {total}, split ({b}, {a}): the odd cell at"
        " the start, so out = {n}*{s} = {out}",
        "    'same_lower'：总裁剪量 {d}*({k} - 1) + 1 - {s} + {op} = {total}，分为 ({b}, {a})：多出的一个单元在开头，"
        "所以 out = {n}*{s} = {out}",
    ),
    "formula_same_short": (
        "    'same': total crop {d}*({k} - 1) + 1 - {s} + {op} = {total} < 0: nothing is cropped and {extra} cells"
        " are added at the end, so out = {n}*{s} = {out}",
        "    'same'：总裁剪量 {d}*({k} - 1) + 1 - {s} + {op} = {total} < 0：不裁剪，在末端补 {extra} 个单元，"
        "所以 out = {n}*{s} = {out}",
    ),
    "formula": (
        "Output size formula: out = (in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1",
        "输出尺寸公式：out = (in - 1)*步长 - 2*填充 + 膨胀率*(卷积核大小 - 1) + 输出填充 + 1",
    ),
    "formula_line": (
        "  {axis}: ({n} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op} + 1 = {out}   (full canvas before the crop: {full})",
        "  {axis}：({n} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op} + 1 = {out}   （裁剪前的完整画布：{full}）",
    ),
    "input_label": ("input x", "输入特征图 x"),
    "kernel_label": ("kernel K", "卷积核 K"),
    "output_label": ("output", "输出特征图"),
    "check_yes": ("equals conv_transpose: yes", "与 conv_transpose 的结果一致：是"),
    "check_no": (
        "equals conv_transpose: NO (largest difference {diff})",
        "与 conv_transpose 的结果一致：否（最大差值 {diff}）",
    ),
    "channels_note": (
        "Channels: {cin} in, {cout} out, {groups} group(s); weight shape {weight_shape}. Every output "
        "channel is its bias plus the sum of {per} planes like the one below (one per input channel of "
        "its group, each with its own kernel plane weight[c_in, c_out mod {out_per}]). Shown: one plane.",
        "通道：输入 {cin} 个，输出 {cout} 个，分组 {groups}；权重形状 {weight_shape}。每个输出通道等于它的偏置"
        "加上 {per} 个如下所示的平面之和（本组每个输入通道一个，各用自己的卷积核平面 "
        "weight[c_in, c_out mod {out_per}]）。下面只展示一个平面。",
    ),
    "summary_note": (
        "Summary: {steps} input elements, one line per step (run with --detail full to see every step's grids).",
        "摘要：共 {steps} 个输入元素，每个元素的步骤只占一行（加 --detail full 可查看每一步的网格）。",
    ),
    "step_header": ("Step {n}/{total}: {title}", "步骤 {n}/{total}：{title}"),
    "error_prefix": ("error: ", "错误："),
    # ---- scatter trace ------------------------------------------------------------------
    "scatter_title": ("Transposed convolution, step by step", "转置卷积：逐步计算"),
    "scatter_intro": (
        "Each input element multiplies the whole kernel and the copy is added onto a canvas at "
        "(input index) * stride; overlapping copies add up.",
        "每个输入元素乘以整个卷积核，得到的副本加到画布上 (输入下标) * 步长 的位置；重叠的部分相加。",
    ),
    "dilate_plain": (
        "the kernel as used (dilation 1: taps are neighbours, nothing to insert)",
        "使用的卷积核（膨胀率为 1：权重彼此相邻，无需插入）",
    ),
    "dilate_title": (
        "the kernel dilated by {dilation}: dilation - 1 zeros between neighbouring taps, so one copy spans {span}",
        "按膨胀率 {dilation} 膨胀卷积核：相邻权重之间插入 膨胀率 - 1 个零，一份副本覆盖 {span}",
    ),
    "dilated_label": ("dilated kernel (holes are 0)", "膨胀后的卷积核（空洞处为 0）"),
    "scatter_step": ("x{index} = {value} times the kernel", "x{index} = {value} 乘以卷积核"),
    "why_2d": (
        "stamped at rows {r0}..{r1}, cols {c0}..{c1} because stride {stride} puts input (i, j) at "
        "(i*{sh}, j*{sw}) = ({oi}, {oj})",
        "放在第 {r0}..{r1} 行、第 {c0}..{c1} 列：步长 {stride} 把输入 (i, j) 放到 (i*{sh}, j*{sw}) = ({oi}, {oj})",
    ),
    "why_1d": (
        "stamped at positions {a0}..{a1} because stride {s} puts input i at i*{s} = {o}",
        "放在第 {a0}..{a1} 个位置：步长 {s} 把输入 i 放到 i*{s} = {o}",
    ),
    "zero_value": (
        "x{index} is 0, so this copy adds nothing",
        "x{index} 为 0，这份副本不增加任何值",
    ),
    "contribution_label": ("this step's contribution", "本步的贡献"),
    "running_label": ("running sum", "累加和"),
    "highlight_legend": ("[v] = cells this step writes", "[v] = 本步写入的单元"),
    "full_title": (
        "the full canvas {shape}: all copies added up",
        "完整画布 {shape}：所有副本之和",
    ),
    "crop_title": (
        "padding {padding}: crop that many cells from BOTH ends of each axis",
        "填充 {padding}：在每个轴的两端各裁剪掉这么多单元",
    ),
    "crop_why": (
        "Why does padding shrink the output? The paired ordinary convolution pads ITS input with a "
        "border; the transposed convolution runs that convolution backwards, so here the border is removed.",
        "为什么填充会让输出变小？与之配对的普通卷积是在它自己的输入外加一圈填充；转置卷积把这个卷积反过来做，"
        "所以这里是把那一圈裁剪掉。",
    ),
    "crop_legend": ("(v) = removed by padding", "(v) = 被填充裁剪掉的单元"),
    "crop_title_form": (
        "padding {form}: crop (before, after) = {pads} cells from the start and the end of each axis",
        "填充 {form}：在每个轴的开头和末端分别裁剪 (前, 后) = {pads} 个单元",
    ),
    "crop_title_pairs": (
        "padding: crop (before, after) = {pads} cells from the start and the end of each axis",
        "填充：在每个轴的开头和末端分别裁剪 (前, 后) = {pads} 个单元",
    ),
    "fold_title": (
        "padding_mode {mode}: fold the border back onto the output instead of dropping it",
        "填充模式 {mode}：把边界单元折回到输出上，而不是丢掉",
    ),
    "fold_why_reflect": (
        "The paired ordinary convolution (padding_mode='reflect') fills its border with a mirror image of "
        "its input, without repeating the edge cell. Its adjoint (this transposed convolution) therefore "
        "adds each border cell of the canvas onto the cell it was copied from.",
        "与之配对的普通卷积（padding_mode='reflect'）用输入的镜像填充边界，且不重复边缘单元。"
        "它的伴随运算（这个转置卷积）因此把画布的每个边界单元加回到它被复制来的那个单元上。",
    ),
    "fold_why_replicate": (
        "The paired ordinary convolution (padding_mode='replicate') fills its border with copies of the edge "
        "cell. Its adjoint (this transposed convolution) therefore adds the whole border onto the edge cells.",
        "与之配对的普通卷积（padding_mode='replicate'）用边缘单元的副本填充边界。"
        "它的伴随运算（这个转置卷积）因此把整个边界加到边缘单元上。",
    ),
    "fold_why_circular": (
        "The paired ordinary convolution (padding_mode='circular') fills its border by wrapping around: "
        "the start's border holds the end's cells and the other way round. Its adjoint (this transposed "
        "convolution) therefore adds each border cell onto the cell at the opposite end it was copied from.",
        "与之配对的普通卷积（padding_mode='circular'）循环填充边界：开头的边界是末端的单元，反之亦然。"
        "它的伴随运算（这个转置卷积）因此把每个边界单元加到另一端它被复制来的那个单元上。",
    ),
    "fold_legend": (
        "(v) = border cell of the canvas; [v] = output cell that receives border values",
        "(v) = 画布的边界单元；[v] = 接收边界值的输出单元",
    ),
    "fold_move": ("  canvas {canvas} = {value}  ->  added to output {output}", "  画布 {canvas} = {value}  ->  加到输出 {output}"),
    "fold_more": ("  ... and {count} more border cells", "  ……还有 {count} 个边界单元"),
    "fold_before": ("cropped output", "裁剪后的输出"),
    "fold_added": ("border folded back", "折回的边界值"),
    "fold_after": ("after the fold", "折回之后"),
    "crop_kept": ("kept {shape}", "保留 {shape}"),
    "crop_empty": (
        "padding removes the whole canvas on some axis; output_padding adds cells back below",
        "填充在某个轴上裁剪掉了整个画布；下面由输出填充补回单元",
    ),
    "op_title": (
        "output_padding {output_padding}: extra cells at the END side only",
        "输出填充 {output_padding}：只在末端一侧增加单元",
    ),
    "op_why": (
        "Why only one side, and is it zeros? A strided ordinary convolution maps several input sizes to "
        "the same output size (its division rounds down). output_padding picks a larger one by adding "
        "the cells that rounding dropped -- they lie at the end. They are not zeros: a cell takes the "
        "canvas value that padding would otherwise have cropped, or, past the canvas, no contribution "
        "(bias only).",
        "为什么只加在一侧？补的是零吗？带步长的普通卷积会把几个不同的输入尺寸映射到同一个输出尺寸（除法向下取整）。"
        "输出填充通过补回被取整丢掉的单元来选择较大的那个尺寸，而这些单元位于末端。它们不一定是零："
        "单元取的是原本会被填充裁剪掉的画布值；若超出画布，则没有任何贡献（只有偏置）。",
    ),
    "op_legend": (
        "[v] = added by output_padding.  Origins: R = value padding would otherwise have cropped, "
        "B = no contribution (bias only), . = kept",
        "[v] = 输出填充增加的单元。来源：R = 原本会被填充裁剪掉的值，B = 没有贡献（只有偏置），. = 保留",
    ),
    "origins_label": ("origins", "来源"),
    "before_bias_label": ("before the bias", "加偏置之前"),
    "bias_title": ("add the bias {bias} to every output cell", "每个输出单元加上偏置 {bias}"),
    # ---- zero-insertion view ------------------------------------------------------------
    "conv_title": (
        "Equivalent convolution: insert zeros, pad, convolve with the kernel rotated 180°",
        "等价卷积：插零、填充，再用旋转 180° 的卷积核做普通卷积",
    ),
    "conv_insert": (
        "insert stride - 1 = {gaps} zero(s) between neighbouring inputs (zero insertion)",
        "插零：在相邻输入之间插入 步长 - 1 = {gaps} 个零",
    ),
    "inserted_label": ("after zero insertion", "插零之后"),
    "conv_pad": (
        "pad with zeros: dilation*(kernel - 1) - padding at the start, plus output_padding at the end",
        "用零填充：开头 膨胀率*(卷积核大小 - 1) - 填充 个，末端再多加 输出填充 个",
    ),
    "conv_pad_line": (
        "  {axis}: start {d}*({k} - 1) - {p} = {before}, end {before} + {op} = {after}",
        "  {axis}：开头 {d}*({k} - 1) - {p} = {before}，末端 {before} + {op} = {after}",
    ),
    "conv_crop_note": (
        "  a negative amount is a crop: that many cells are removed instead of added",
        "  负数表示裁剪：去掉相应数量的单元，而不是增加",
    ),
    "padded_label": ("padded input", "填充后的输入"),
    "conv_flip": ("rotate the (dilated) kernel by 180°", "把（膨胀后的）卷积核旋转 180°"),
    "flip_before": ("kernel", "卷积核"),
    "flip_after": ("rotated 180°", "旋转 180° 后"),
    "conv_why_flip": (
        "Why flipped? Scattering sends x[i]*K[t] to output i*stride + t*dilation: seen from an input, "
        "the kernel runs forwards. Seen from an output cell, the inputs further right pair with "
        "smaller t, so a window sliding over the inputs meets the kernel backwards.",
        "为什么要翻转？散射时 x[i]*K[t] 被送到输出 i*步长 + t*膨胀率：从输入看，卷积核是正向展开的。"
        "从某个输出单元看，越靠右的输入对应越小的 t，所以在输入上滑动的窗口遇到的是倒过来的卷积核。",
    ),
    "conv_slide": (
        "slide the rotated kernel over the padded input with stride 1 (an ordinary convolution)",
        "用旋转后的卷积核在填充后的输入上以步长 1 滑动（普通卷积）",
    ),
    # ---- matrix view --------------------------------------------------------------------
    "matrix_title": ("Matrix view: the transposed convolution is C^T x", "矩阵视角：转置卷积就是 C^T x"),
    "matrix_intro": (
        "C is the matrix of the ordinary convolution with the same kernel, stride, padding and dilation: "
        "it takes an output-sized array ({outputs} elements) to an input-sized one ({inputs} elements). "
        "Its transpose sends every input back along the same connections -- hence 'transposed' convolution.",
        "C 是具有相同卷积核、步长、填充和膨胀的普通卷积的矩阵：它把输出大小的数组（{outputs} 个元素）"
        "映射为输入大小的数组（{inputs} 个元素）。它的转置沿着同样的连接把每个输入送回去——这就是“转置”卷积名字的由来。",
    ),
    "matrix_c": ("C ({rows} x {cols}): row = one input element", "C（{rows} x {cols}）：每行对应一个输入元素"),
    "matrix_ct": (
        "C^T ({rows} x {cols}) next to x flattened = {vector}",
        "C^T（{rows} x {cols}），展平的 x = {vector}",
    ),
    "matrix_product": ("C^T x reshaped to {shape}", "C^T x 重排为 {shape}"),
    "matrix_paired_note": (
        "note: output_padding >= stride here, so the paired convolution would produce {rows} outputs; C keeps the first {inputs}",
        "注意：这里输出填充 >= 步长，配对的卷积会产生 {rows} 个输出；C 只保留前 {inputs} 行",
    ),
    # ---- phase view ---------------------------------------------------------------------
    "phase_title": (
        "Phase (sub-pixel) view: {count} small convolutions, interleaved",
        "相位（子像素）视角：{count} 个小卷积交错拼接",
    ),
    "phase_intro": (
        "Output cell o belongs to phase r = (o + padding) mod stride. Only taps t with "
        "t*dilation mod stride = r reach that phase, so each phase is an ordinary stride-1 convolution "
        "of the input with a small sub-kernel; the phases interleave into the output.",
        "输出单元 o 属于相位 r = (o + 填充) mod 步长。只有满足 t*膨胀率 mod 步长 = r 的权重 t "
        "会到达这个相位，所以每个相位都是输入与一个小的子卷积核做的步长为 1 的普通卷积；各相位交错拼成输出。",
    ),
    "phase_header": ("phase {residue}: taps {taps}", "相位 {residue}：权重 {taps}"),
    "phase_sub_kernel": ("sub-kernel", "子卷积核"),
    "phase_values": ("its output cells", "它的输出单元"),
    "phase_positions_2d": ("fills output rows {rows}, cols {cols}", "写入输出的第 {rows} 行、第 {cols} 列"),
    "phase_positions_1d": ("fills output positions {positions}", "写入输出的第 {positions} 个位置"),
    "phase_no_cells": ("no output cell falls on this phase", "没有输出单元落在这个相位"),
    "phase_empty": (
        "no tap lands on this phase: these cells receive no input, only the bias (a gap)",
        "没有权重落在这个相位：这些单元没有任何输入，只有偏置（空缺）",
    ),
    "interleaved_label": ("interleaved", "交错拼接后"),
    # ---- overlap view -------------------------------------------------------------------
    "overlap_title": (
        "Overlap map: how many terms x[i]*K[t] reach each output cell",
        "重叠图：每个输出单元累加了多少项 x[i]*K[t]",
    ),
    "counts_label": ("terms per output cell", "每个输出单元的项数"),
    "axis_phase_counts": (
        "  {axis}: taps per phase (canvas position mod {s}) = {counts} -> {verdict}",
        "  {axis}：各相位的权重数（画布位置 mod {s}）= {counts} -> {verdict}",
    ),
    "verdict_even": ("even", "均匀"),
    "verdict_uneven": ("uneven", "不均匀"),
    "verdict_gaps": ("uneven, with gaps (phases no input reaches)", "不均匀，且有空缺（没有输入到达的相位）"),
    "overlap_even": (
        "Even overlap: away from the borders every output cell sums the same number of terms "
        "(border cells get fewer because fewer inputs reach them).",
        "重叠均匀：远离边界处，每个输出单元累加的项数相同（边界单元较少，因为能到达它们的输入较少）。",
    ),
    "overlap_warn": (
        "Warning: uneven overlap on {axes}. Neighbouring output cells sum different numbers of terms, "
        "a periodic pattern that shows up as checkerboard artifacts. With dilation 1 this happens when "
        "the kernel size is not divisible by the stride; choose a kernel size that is a multiple of the "
        "stride, or upsample by resizing and then convolve.",
        "警告：{axes} 上重叠不均匀。相邻输出单元累加的项数不同，形成周期性的图案，即棋盘格伪影。"
        "膨胀率为 1 时，卷积核大小不能被步长整除就会出现这种情况；请选择步长整数倍的卷积核大小，"
        "或者先用插值上采样再做卷积。",
    ),
    "output_sum_label": ("output = sum of the terms", "输出 = 各项之和"),
    # ---- shape command ------------------------------------------------------------------
    "shape_title": ("Output size of the transposed convolution", "转置卷积的输出尺寸"),
    "shape_result": ("output size: {shape}", "输出尺寸：{shape}"),
    # ---- solve command ------------------------------------------------------------------
    "solve_title": ("Parameters that map {n} -> {out}", "把 {n} 映射为 {out} 的参数"),
    "solve_bounds": (
        "searched: kernel {k0}..{k1}, stride {s0}..{s1}, padding {p0}..{p1}, dilation {d0}..{d1}, "
        "every valid output_padding (0 .. max(stride, dilation) - 1)",
        "搜索范围：卷积核 {k0}..{k1}，步长 {s0}..{s1}，填充 {p0}..{p1}，膨胀率 {d0}..{d1}，"
        "以及所有有效的输出填充（0 .. max(步长, 膨胀率) - 1）",
    ),
    "solve_count": (
        "{count} solution(s), best first: even overlap, then smaller kernels",
        "共 {count} 组解，按优劣排序：重叠均匀的在前，其次是较小的卷积核",
    ),
    "solve_none": (
        "No combination within these bounds maps {n} -> {out}; widen them with --max-kernel, "
        "--max-stride, --max-padding or --max-dilation.",
        "在这些范围内没有参数能把 {n} 映射为 {out}；请用 --max-kernel、--max-stride、--max-padding "
        "或 --max-dilation 扩大范围。",
    ),
    "col_kernel": ("kernel", "卷积核"),
    "col_stride": ("stride", "步长"),
    "col_padding": ("padding", "填充"),
    "col_output_padding": ("output_padding", "输出填充"),
    "col_dilation": ("dilation", "膨胀率"),
    "col_overlap": ("taps/phase", "各相位权重数"),
    "col_note": ("note", "说明"),
    "note_even": ("even overlap", "重叠均匀"),
    "note_uneven": ("checkerboard-prone (uneven overlap)", "易产生棋盘格伪影（重叠不均匀）"),
    "note_gaps": (
        "checkerboard-prone: some outputs get no input (gaps)",
        "易产生棋盘格伪影：部分输出没有任何输入（空缺）",
    ),
    "solve_truncated": (
        "... {more} more (use --limit 0 to list all)",
        "……还有 {more} 组（用 --limit 0 列出全部）",
    ),
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if supported, else raise :class:`ParameterError`."""
    if lang not in LANGUAGES:
        raise ParameterError(f"lang must be one of {', '.join(LANGUAGES)}, got lang={lang!r}")
    return lang


def tr(lang: str, key: str, **values: object) -> str:
    """The message ``key`` in ``lang``, formatted with ``values``."""
    english, chinese = _MESSAGES[key]
    template = chinese if check_lang(lang) == "zh" else english
    return template.format(**values) if values else template


#: Labels of the web page (``convtranspose serve`` / ``explain --format html``); the page's
#: explanations themselves come from the messages above.
_UI: dict[str, tuple[str, str]] = {
    "title": ("Transposed convolution, step by step", "转置卷积：逐步计算"),
    "subtitle": (
        "Every number below is computed by the convtranspose library (PyTorch's ConvTranspose semantics).",
        "下面的每个数字都由 convtranspose 库计算（与 PyTorch 的 ConvTranspose 语义一致）。",
    ),
    "lang_button": ("中文", "English"),
    "lang_button_label": ("Switch the page to Chinese", "把页面切换为英文"),
    "settings": ("Settings", "设置"),
    "preset": ("Preset", "预设"),
    "preset_custom": ("(your own numbers)", "（自定义数值）"),
    "preset_seed": ("Seed example: stride 1", "基础示例：步长 1"),
    "preset_seed_stride12": ("Seed example: stride (1, 2)", "基础示例：步长 (1, 2)"),
    "preset_seed_dilation2": ("Seed example: dilation 2", "基础示例：膨胀率 2"),
    "preset_seed_padding1": ("Seed example: padding 1", "基础示例：填充 1"),
    "preset_seed_output_padding": (
        "Seed example: stride 2, padding 1, output_padding 1",
        "基础示例：步长 2，填充 1，输出填充 1",
    ),
    "preset_dcgan": ("DCGAN generator layer: k4 s2 p1", "DCGAN 生成器层：卷积核 4，步长 2，填充 1"),
    "preset_unet": ("U-Net up-convolution: k2 s2", "U-Net 上采样层：卷积核 2，步长 2"),
    "preset_checkerboard": ("Checkerboard-prone: k3 s2", "易产生棋盘格伪影：卷积核 3，步长 2"),
    "preset_one_d": ("1-d: stride 2, padding 1, output_padding 1", "一维：步长 2，填充 1，输出填充 1"),
    "preset_same": ("'same' padding, k3 s2: output = input × stride", "'same' 填充，卷积核 3，步长 2：输出 = 输入 × 步长"),
    "preset_asymmetric": ("Asymmetric padding ((1, 2), (0, 1))", "非对称填充 ((1, 2), (0, 1))"),
    "preset_reflect": ("padding_mode 'reflect': the border folds back", "填充模式 'reflect'：边界折回"),
    "dims": ("Dimensions", "维度"),
    "dims_1": ("1-d", "一维"),
    "dims_2": ("2-d", "二维"),
    "input": ("input x", "输入特征图 x"),
    "kernel": ("kernel K", "卷积核 K"),
    "rows": ("rows", "行"),
    "cols": ("cols", "列"),
    "length": ("length", "长度"),
    "bias": ("bias", "偏置"),
    "use_bias": ("add a bias", "加偏置"),
    "stride": ("stride", "步长"),
    "padding": ("padding", "填充"),
    "output_padding": ("output_padding", "输出填充"),
    "dilation": ("dilation", "膨胀率"),
    "axis": ("axis", "轴"),
    "formula": ("Output size", "输出尺寸"),
    "views": ("Views", "视角"),
    "view_scatter": ("Scatter (step by step)", "逐步叠加"),
    "view_conv": ("Zero insertion + flipped kernel", "插零 + 翻转卷积核"),
    "view_matrix": ("Matrix Cᵀx", "矩阵 Cᵀx"),
    "view_phase": ("Phases (sub-pixel)", "相位（亚像素）"),
    "view_overlap": ("Overlap map", "重叠图"),
    "step": ("Step", "步骤"),
    "step_header": ("Step {n}/{total}: {title}", "步骤 {n}/{total}：{title}"),
    "first": ("First step", "第一步"),
    "prev": ("Previous step", "上一步"),
    "play": ("Play", "播放"),
    "pause": ("Pause", "暂停"),
    "next": ("Next step", "下一步"),
    "last": ("Last step", "最后一步"),
    "speed": ("Speed", "速度"),
    "canvas": ("full canvas (running sum)", "完整画布（累加和）"),
    "canvas_after_crop": ("canvas: struck-through ╱ cells are cropped by padding", "画布：划掉的 ╱ 单元被填充裁剪掉"),
    "output": ("output", "输出特征图"),
    "output_final": ("output = conv_transpose(x, K)", "输出 = conv_transpose(x, K)"),
    "dilated_kernel": ("dilated kernel (· = hole, 0)", "膨胀后的卷积核（· = 空洞，为 0）"),
    "inspector": ("Cell details", "单元详情"),
    "inspector_hint": (
        "Hover over or focus (Tab, then arrow keys) a cell of the input or the output.",
        "把鼠标移到输入或输出的单元上，或用 Tab 键和方向键选中它。",
    ),
    "terms_of": ("output{index} receives {count} term(s):", "输出{index} 收到 {count} 项："),
    "canvas_pos": (
        "It is canvas{canvas} of the full canvas: output index + padding {padding}.",
        "它位于完整画布的 {canvas} 处：输出下标 + 填充 {padding}。",
    ),
    "no_terms": ("no input reaches it: it holds only the bias (0 without one)", "没有输入到达这里：它只含偏置（无偏置时为 0）"),
    "sum": ("sum", "和"),
    "lands_on": ("x{index} = {value}: its kernel copy lands on output cells", "x{index} = {value}：它的卷积核副本落在这些输出单元上"),
    "lands_cropped": ("cropped by padding (not in the output):", "被填充裁剪掉（不在输出中）："),
    "lands_none": ("none (all of its copy is cropped)", "没有（整个副本都被裁剪掉了）"),
    "legend": ("Marks", "标记"),
    "legend_hi": ("● written by this step", "● 本步写入"),
    "legend_removed": ("╱ struck through, hatched: cropped by padding", "╱ 划掉、带斜纹：被填充裁剪掉"),
    "legend_added": ("+ added by output_padding", "+ 输出填充增加"),
    "legend_bias_only": ("B no input reaches it (bias only)", "B 没有输入到达（只有偏置）"),
    "legend_term": ("× term of the selected output cell", "× 所选输出单元的一项"),
    "legend_landing": ("◆ reached by the selected input", "◆ 所选输入到达的单元"),
    "legend_current": ("▣ input element of this step", "▣ 本步的输入元素"),
    "legend_folded": ("↩ dotted: border cell folded back (padding_mode)", "↩ 点线框：折回的边界单元（填充模式）"),
    "legend_fold_target": ("⊕ receives folded border values", "⊕ 接收折回的边界值"),
    "output_cell": ("output", "输出"),
    "folded_from": ("folded from canvas{canvas}", "从画布{canvas}折回"),
    "folded_via": ("via canvas{canvas}, folded back", "经画布{canvas}折回"),
    "scatter_only": (
        "padding_mode {mode} is shown by the scatter view (its fold step)",
        "填充模式 {mode} 只在逐步叠加视角中展示（折回步骤）",
    ),
    "padding_form": ("Padding form", "填充形式"),
    "padding_form_ints": ("symmetric (PyTorch): p cells from both ends", "对称（PyTorch）：两端各裁剪 p 个单元"),
    "padding_form_pairs": ("asymmetric: (before, after) per axis", "非对称：每个轴 (前, 后)"),
    "padding_form_valid": ("'valid': no crop", "'valid'：不裁剪"),
    "padding_form_same": ("'same': output = input × stride, odd cell at the end", "'same'：输出 = 输入 × 步长，多出的单元在末端"),
    "padding_form_same_lower": (
        "'same_lower': output = input × stride, odd cell at the start",
        "'same_lower'：输出 = 输入 × 步长，多出的单元在开头",
    ),
    "padding_mode": ("Padding mode", "填充模式"),
    "padding_mode_zeros": ("zeros: crop the border (PyTorch)", "zeros：裁掉边界（PyTorch）"),
    "padding_mode_circular": ("circular: wrap the border around", "circular：边界循环折回另一端"),
    "padding_mode_reflect": ("reflect: mirror the border back", "reflect：边界镜像折回"),
    "padding_mode_replicate": ("replicate: add the border onto the edge", "replicate：边界加到边缘单元上"),
    "pad_before": ("crop before", "前端裁剪"),
    "pad_after": ("crop after", "末端裁剪"),
    "padding_pairs": ("padding (before, after)", "填充 (前, 后)"),
    "canvas_after_fold": (
        "canvas: dotted ↩ border cells are folded back onto the output",
        "画布：点线 ↩ 边界单元被折回到输出上",
    ),
    "code": ("Code for these settings", "当前设置的代码"),
    "copy": ("Copy", "复制"),
    "copied": ("Copied", "已复制"),
    "as_text": ("The same explanation as text (what the CLI prints)", "同一解释的文本形式（命令行的输出）"),
    "invalid": ("These settings are invalid:", "这些设置无效："),
    "invalid_keep": ("The page still shows the last valid settings.", "页面仍显示上一组有效设置的结果。"),
    "static_note": (
        "Offline copy: steps, views and language work here; to change the numbers run `convtranspose serve`.",
        "离线副本：可以切换步骤、视角和语言；要修改数值，请运行 `convtranspose serve`。",
    ),
    "loading": ("computing…", "计算中…"),
    "matches": ("equals conv_transpose: yes", "与 conv_transpose 的结果一致：是"),
    "inserted": ("input after zero insertion", "插零之后的输入"),
    "padded": ("padded input (pad before {before}, after {after}; negative = crop)", "填充后的输入（前 {before}，后 {after}；负数表示裁剪）"),
    "flipped": ("kernel rotated 180°", "旋转 180° 后的卷积核"),
    "conv_explain": (
        "Slide the rotated kernel over the padded input (an ordinary stride-1 convolution): each position gives one output cell.",
        "把旋转后的卷积核在填充后的输入上滑动（步长为 1 的普通卷积）：每个位置得到一个输出单元。",
    ),
    "matrix_ct": ("Cᵀ (rows: output cells, columns: input elements)", "Cᵀ（行：输出单元，列：输入元素）"),
    "matrix_x": ("x as a vector", "x 展平成向量"),
    "matrix_product": ("Cᵀx, reshaped to the output", "Cᵀx，变形为输出形状"),
    "phase_residue": ("phase {residue}: taps {taps}", "相位 {residue}：权重 {taps}"),
    "phase_empty": ("phase {residue}: no tap lands here (bias only)", "相位 {residue}：没有权重落在这里（只有偏置）"),
    "sub_kernel": ("sub-kernel", "子卷积核"),
    "phase_values": ("its output cells", "它的输出单元"),
    "counts": ("terms per output cell", "每个输出单元的项数"),
    "overlap_even": ("Even overlap: interior cells all sum the same number of terms.", "重叠均匀：内部单元的项数都相同。"),
    "overlap_uneven": (
        "Uneven overlap: neighbouring cells sum different numbers of terms — the pattern behind checkerboard artifacts.",
        "重叠不均匀：相邻单元的项数不同——这正是棋盘格伪影的来源。",
    ),
    "overlap_gaps": ("Some cells get no term at all (gaps).", "有些单元一项也没有（空缺）。"),
    "axis_counts": ("taps per phase along each axis: {counts}", "每个轴上各相位的权重个数：{counts}"),
}


def ui_strings(lang: str) -> dict[str, str]:
    """The web page's labels in ``lang``.

    Examples
    --------
    >>> ui_strings("zh")["stride"]
    '步长'
    """
    index = 1 if check_lang(lang) == "zh" else 0
    return {key: pair[index] for key, pair in _UI.items()}


# --------------------------------------------------------------------------------------------
# Error messages
# --------------------------------------------------------------------------------------------
# The library's errors are English sentences built at the raise site. For the explainer (web page
# and CLI) in Chinese, the rules a learner meets by changing the settings are matched here and
# re-worded with the same numbers; any other message is shown as raised. tests/test_i18n_errors.py
# drives every control of the page into each rule and checks that no English sentence is left.

_PARAMETER_NAMES = {
    "stride": "步长 (stride)",
    "padding": "填充 (padding)",
    "output_padding": "输出填充 (output_padding)",
    "dilation": "膨胀率 (dilation)",
    "input": "输入 (input)",
    "kernel": "卷积核 (kernel)",
    "bias": "偏置 (bias)",
    "padding_mode": "填充模式 (padding_mode)",
}
_TUPLE = r"\([^()]*\)"
_ERRORS_ZH: tuple[tuple[str, str], ...] = (
    (
        r"(?P<name>\w+) must be positive \(>= 1\), got (?P=name)=(?P<value>.+)",
        "{name} 必须为正整数（>= 1），当前为 {value}",
    ),
    (
        r"(?P<name>\w+) must be non-negative \(>= 0\), got (?P=name)=(?P<value>.+?)"
        r"(?: \(dimension (?P<dim>\d+): \(before, after\) = (?P<pair>" + _TUPLE + r")\))?",
        "{name} 不能为负数（>= 0），当前为 {value}",
    ),
    (
        r"output_padding must be smaller than either stride or dilation, but got output_padding=(?P<op>" + _TUPLE
        + r"), stride=(?P<s>" + _TUPLE + r"), dilation=(?P<d>" + _TUPLE + r") \(in dimension (?P<dim>\d+): "
        r"(?P<v>\d+) is not < max\((?P<ms>\d+), (?P<md>\d+)\); valid range 0\.\.(?P<hi>\d+)\)",
        "输出填充 (output_padding) 必须小于步长或膨胀率中较大的那个：第 {dim} 维的 {v} 不小于 max({ms}, {md})，"
        "有效范围是 0..{hi}（output_padding={op}，stride={s}，dilation={d}）",
    ),
    (
        r"computed output size (?P<size>" + _TUPLE + r") is too small \(must be >= 1 in every dimension\) for an "
        r"input of (?P<input>" + _TUPLE + r") with kernel_size=(?P<k>" + _TUPLE + r"), stride=(?P<s>" + _TUPLE
        + r"), padding=(?P<padding>.+), output_padding=(?P<op>" + _TUPLE + r"), dilation=(?P<d>" + _TUPLE
        + r"); (?P<what>padding|before \+ after) may be at most (?P<max>" + _TUPLE + r") here",
        "算出的输出尺寸 {size} 太小（每一维都必须 >= 1）：输入 {input}，卷积核 {k}，步长 {s}，填充 {padding}，"
        "输出填充 {op}，膨胀率 {d}；这里{what}最多为 {max}",
    ),
    (
        r"padding_mode='reflect' needs padding smaller than the output size in every dimension \(the mirror does "
        r"not repeat the edge cell\), but dimension (?P<dim>\d+) has padding \(before, after\) = (?P<pair>"
        + _TUPLE + r") for an output of size (?P<size>\d+) \(padding=(?P<padding>.+)\) \(valid range "
        r"0\.\.(?P<hi>\d+)\)",
        "填充模式 'reflect' 要求每一维的填充都小于输出尺寸（镜像不重复边缘单元），但第 {dim} 维的填充 (前, 后) = {pair}，"
        "而输出尺寸是 {size}（padding={padding}），有效范围是 0..{hi}",
    ),
    (
        r"padding_mode='circular' needs padding at most the output size in every dimension \(it wraps around "
        r"once\), but dimension (?P<dim>\d+) has padding \(before, after\) = (?P<pair>" + _TUPLE + r") for an "
        r"output of size (?P<size>\d+) \(padding=(?P<padding>.+)\) \(valid range 0\.\.(?P<hi>\d+)\)",
        "填充模式 'circular' 要求每一维的填充都不超过输出尺寸（只循环一圈），但第 {dim} 维的填充 (前, 后) = {pair}，"
        "而输出尺寸是 {size}（padding={padding}），有效范围是 0..{hi}",
    ),
    (
        r"padding_mode='(?P<mode>\w+)' is shown by the scatter view \(its fold step\); view '(?P<view>\w+)' shows "
        r"padding_mode='zeros' only",
        "填充模式 '{mode}' 只在逐步叠加视角中展示（折回步骤）；视角 '{view}' 只展示 padding_mode='zeros'",
    ),
    (
        r"full canvas (?P<full>" + _TUPLE + r") / output (?P<out>" + _TUPLE + r") too large to draw; at most "
        r"(?P<n>\d+) cells per side",
        "完整画布 {full} / 输出 {out} 太大，无法绘制；每边最多 {n} 个单元",
    ),
    (
        r"the matrix view is limited to (?P<a>\d+) input and (?P<b>\d+) output elements, got (?P<c>\d+) and "
        r"(?P<d>\d+)",
        "矩阵视角最多显示 {a} 个输入元素和 {b} 个输出元素，当前为 {c} 和 {d}",
    ),
    (
        r"(?P<name>\w+): every entry must be a number, got (?P<value>.+)",
        "{name} 的每一项都必须是数字，当前有 {value}",
    ),
    (
        r"(?P<name>\w+): every entry must be a finite number, got (?P<value>.+)",
        "{name} 的每一项都必须是有限的数字，当前有 {value}",
    ),
    (
        r"(?P<name>\w+) must be an int or a list of ints \(one per dimension\), got (?P<value>.+)",
        "{name} 必须是整数，或每一维一个整数，当前为 {value}",
    ),
    (
        r"(?P<name>\w+) values must lie within \+-(?P<limit>\S+) for the explainer \(so that its products and "
        r"sums cannot overflow\), got (?P<value>\S+)(?: at index (?P<index>" + _TUPLE + r"))?",
        "{name} 的数值必须在 ±{limit} 以内（这样乘积与累加和才不会溢出），当前有 {value}",
    ),
)
_ERROR_PATTERNS = tuple((re.compile(pattern), template) for pattern, template in _ERRORS_ZH)


def localize_error(message: str, lang: str) -> str:
    """An error message of the library in ``lang``: re-worded with its own numbers when its rule is
    in the catalogue, else unchanged (always unchanged for English).

    Examples
    --------
    >>> localize_error("stride must be positive (>= 1), got stride=(0, 2)", "zh")
    '步长 (stride) 必须为正整数（>= 1），当前为 (0, 2)'
    >>> localize_error("stride must be positive (>= 1), got stride=(0, 2)", "en")
    'stride must be positive (>= 1), got stride=(0, 2)'
    """
    if check_lang(lang) == "en":
        return message
    for pattern, template in _ERROR_PATTERNS:
        match = pattern.fullmatch(message)
        if match:
            values = {key: value for key, value in match.groupdict().items() if value is not None}
            if "name" in values:
                values["name"] = _PARAMETER_NAMES.get(values["name"], values["name"])
            if values.get("what") is not None:
                values["what"] = "填充" if values["what"] == "padding" else " 前 + 后 "
            return template.format(**values)
    return message
