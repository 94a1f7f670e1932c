"""Error messages in Chinese: every rule a learner can break from the web page's controls (or the
CLI) is answered in the page's language, with the numbers of the English message.

The bodies below are what the page sends (``requestBody`` in ``web/static/app.js``): grids of up to
8 (input) and 7 (kernel) cells per side, any number or an empty cell (null) in them, per-dimension
integers or empty fields for the parameters, every padding form and mode, every view.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from convtranspose.cli import main
from convtranspose.web.api import respond

CJK = re.compile(r"[\u4e00-\u9fff]")

# One request per rule of the catalogue (convtranspose.i18n.localize_error), and a fragment of the
# Chinese sentence it must get.
RULES = [
    ({"stride": 0}, "步长 (stride) 必须为正整数（>= 1），当前为 (0, 0)"),
    ({"dilation": [1, 0]}, "膨胀率 (dilation) 必须为正整数（>= 1），当前为 (1, 0)"),
    ({"padding": [[0, -1], 0]}, "填充 (padding) 不能为负数（>= 0），当前为 ((0, -1), (0, 0))"),
    ({"output_padding": [-1, 0]}, "输出填充 (output_padding) 不能为负数"),
    ({"stride": 2, "output_padding": [0, 2]},
     "输出填充 (output_padding) 必须小于步长或膨胀率中较大的那个：第 1 维的 2 不小于 max(2, 1)，有效范围是 0..1"),
    ({"padding": 5}, "算出的输出尺寸 (-7, -7) 太小（每一维都必须 >= 1）：输入 (2, 2)，卷积核 (2, 2)"),
    ({"padding": [[5, 0], 0]}, "这里 前 + 后 最多为 (2, 2)"),
    ({"stride": 2, "padding": [[2, 0], 0], "padding_mode": "reflect"},
     "填充模式 'reflect' 要求每一维的填充都小于输出尺寸（镜像不重复边缘单元），但第 0 维的填充 (前, 后) = (2, 0)，而输出尺寸是 2"),
    ({"stride": 3, "padding": [[3, 0], 0], "padding_mode": "circular"},
     "填充模式 'circular' 要求每一维的填充都不超过输出尺寸（只循环一圈），但第 0 维的填充 (前, 后) = (3, 0)，而输出尺寸是 2"),
    ({"padding": 1, "padding_mode": "replicate", "view": "matrix"}, "填充模式 'replicate' 只在逐步叠加视角中展示（折回步骤）"),
    ({"stride": 9, "input": [[1] * 8] * 8}, "太大，无法绘制；每边最多 40 个单元"),
    ({"view": "matrix", "input": [[1] * 5] * 5}, "矩阵视角最多显示 16 个输入元素和 64 个输出元素，当前为 25 和 36"),
    ({"input": [[1, None], [2, 3]]}, "输入 (input) 的每一项都必须是数字，当前有 None"),
    ({"stride": [1, None]}, "步长 (stride) 必须是整数，或每一维一个整数，当前为 None"),
    ({"kernel": [[1e200, 1], [1, 1]]}, "卷积核 (kernel) 的数值必须在 ±1e+100 以内"),
]


def _body(**changes):
    body = {"input": [[0, 1], [2, 3]], "kernel": [[1.1, 2.2], [3.3, 4.4]], **changes}
    return json.dumps(body).encode()


@pytest.mark.parametrize("changes, fragment", RULES, ids=[f"rule{i}" for i in range(len(RULES))])
def test_each_rule_is_answered_in_chinese_with_its_numbers(changes, fragment):
    status_en, english = respond(_body(**changes, lang="en"))
    status_zh, chinese = respond(_body(**changes, lang="zh"))
    assert 400 <= status_en < 500 and status_zh == status_en, (english, chinese)
    assert fragment in chinese["error"], chinese["error"]
    assert chinese["error_en"] == english["error"] and "error_en" not in english
    assert chinese["error_label"] == "错误" and english["error_label"] == "error"
    # The same numbers, in the same order, as the English message.
    numbers = lambda text: re.findall(r"-?\d+", text)
    assert set(numbers(chinese["error"])) <= set(numbers(english["error"])) | {"1", "0"}


def _page_request(rng: random.Random) -> dict:
    """Settings the page's controls can produce, valid or not."""
    ndim = rng.choice([1, 2])
    def cell():
        return rng.choice([rng.randint(-3, 3), rng.randint(-3, 3), None, 1e150, 0.5])
    def grid(side):
        rows = 1 if ndim == 1 else rng.randint(1, side)
        g = [[cell() for _ in range(rng.randint(1, side))]] if ndim == 1 else None
        if g is None:
            width = rng.randint(1, side)
            g = [[cell() for _ in range(width)] for _ in range(rows)]
        return g[0] if ndim == 1 else g
    def per_dim(lo, hi):
        return [rng.choice([rng.randint(lo, hi)] * 6 + [None]) for _ in range(ndim)]
    form = rng.choice(["ints", "pairs", "valid", "same", "same_lower"])
    padding = (per_dim(-1, 9) if form == "ints" else
               [[rng.randint(-1, 9), rng.choice([rng.randint(-1, 9), None])] for _ in range(ndim)] if form == "pairs" else form)
    return {
        "input": grid(8), "kernel": grid(7), "stride": per_dim(-1, 9), "dilation": per_dim(-1, 9),
        "output_padding": per_dim(-1, 9), "padding": padding,
        "padding_mode": rng.choice(["zeros", "circular", "reflect", "replicate"]),
        "view": rng.choice(["scatter", "scatter", "conv", "matrix", "phase", "overlap"]), "lang": "zh",
    }


def test_every_error_the_page_can_cause_is_in_chinese():
    rng = random.Random(20261129)
    errors = 0
    for _ in range(1500):
        status, data = respond(json.dumps(_page_request(rng)).encode())
        if status != 200:
            errors += 1
            assert 400 <= status < 500
            assert CJK.search(data["error"]), data  # no English-only sentence on the zh page
    assert errors > 500  # the sweep did reach the rules


def test_cli_errors_in_chinese(capsys):
    assert main(["explain", "--input", "1,2", "--kernel", "1,1", "--stride", "0", "--lang", "zh"]) == 2
    assert "错误：步长 (stride) 必须为正整数（>= 1），当前为 (0,)" in capsys.readouterr().err
    assert main(["explain", "--input", "1,2", "--kernel", "1,1", "--stride", "0"]) == 2
    assert "error: stride must be positive (>= 1), got stride=(0,)" in capsys.readouterr().err
