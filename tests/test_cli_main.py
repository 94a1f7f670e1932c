"""CLI tests through main(argv): output, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from convtranspose.cli import main
from test_explain_golden import GOLDEN, GOLDEN_ARGS
from test_explain_text import CHECK, final_grid


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_explain_defaults_to_the_seed_trace(capsys):
    code, out, err = run(capsys, "explain")
    assert code == 0 and err == ""
    assert out.startswith("Transposed convolution, step by step\n")
    assert "Step 6/6: the full canvas (3, 3): all copies added up" in out
    np.testing.assert_allclose(final_grid(out, "en"), GOLDEN["stride1"][1], atol=1e-9)
    assert out.rstrip().endswith(CHECK["en"])


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", sorted(GOLDEN_ARGS))
def test_explain_golden_cases(capsys, name, lang):
    code, out, err = run(capsys, "explain", *GOLDEN_ARGS[name], "--lang", lang)
    assert code == 0 and err == ""
    np.testing.assert_allclose(final_grid(out, lang), GOLDEN[name][1], atol=1e-9)
    assert out.rstrip().endswith(CHECK[lang])


#: The title line each view starts with (so a CLI that ignored --view would fail).
VIEW_TITLES = {
    "conv": "Equivalent convolution: insert zeros, pad, convolve with the kernel rotated 180°",
    "matrix": "Matrix view: the transposed convolution is C^T x",
    "phase": "Phase (sub-pixel) view: 4 small convolutions, interleaved",
    "overlap": "Overlap map: how many terms x[i]*K[t] reach each output cell",
}


@pytest.mark.parametrize("view", sorted(VIEW_TITLES))
def test_explain_views(capsys, view):
    code, out, err = run(capsys, "explain", "--view", view, *GOLDEN_ARGS["output_padding"])
    assert code == 0 and err == ""
    assert out.splitlines()[0] == VIEW_TITLES[view]
    np.testing.assert_allclose(final_grid(out, "en"), GOLDEN["output_padding"][1], atol=1e-9)
    assert out.rstrip().endswith(CHECK["en"])


def test_generated_values_and_one_dimension(capsys):
    # --size 4 gives 0,1,2,3; --kernel-size 3 gives 1.1,2.2,3.3. By hand, stride 2:
    # 0*K at 0..2, 1*K at 2..4, 2*K at 4..6, 3*K at 6..8 ->
    # [0, 0, 1.1, 2.2, 3.3+2.2, 4.4, 6.6+3.3, 6.6, 9.9]
    code, out, _ = run(capsys, "explain", "--size", "4", "--kernel-size", "3", "--stride", "2")
    assert code == 0
    lines = out.splitlines()
    start = lines.index("output (9,)")
    values = [float(v) for v in lines[start + 2].split()]
    np.testing.assert_allclose(values, [0, 0, 1.1, 2.2, 5.5, 4.4, 9.9, 6.6, 9.9], atol=1e-9)
    assert "stamped at positions 2..4 because stride 2 puts input i at i*2 = 2" in out


def test_explain_input_and_kernel_options(capsys):
    code, out, _ = run(capsys, "explain", "--input", "[[0, 1], [2, 3]]", "--kernel", "((1.1, 2.2), (3.3, 4.4))", "--padding", "1")
    assert code == 0
    np.testing.assert_allclose(final_grid(out, "en"), [[11.0]], atol=1e-9)


def test_output_file_and_colour(tmp_path, capsys, monkeypatch):
    target = tmp_path / "trace.txt"
    code, out, err = run(capsys, "explain", "-o", str(target))
    assert code == 0 and out == "" and err == ""
    assert "\x1b[" not in target.read_text(encoding="utf-8")
    code, out, _ = run(capsys, "explain", "--color", "always")
    assert "\x1b[1;33m" in out
    code, out, _ = run(capsys, "explain", "--color", "auto")  # captured stdout is not a terminal
    assert "\x1b[" not in out


def test_shape_command(capsys):
    code, out, err = run(capsys, "shape", "--in", "16", "--kernel-size", "4", "--stride", "2", "--padding", "1")
    assert code == 0 and err == ""
    assert "  length: (16 - 1)*2 - 2*1 + 1*(4 - 1) + 0 + 1 = 32   (full canvas before the crop: 34)" in out
    assert out.rstrip().endswith("output size: 32")
    code, out, _ = run(capsys, "shape", "--in", "16,8", "--kernel-size", "3", "--stride", "2,1", "--padding", "1",
                       "--output-padding", "1,0", "--lang", "zh")
    assert code == 0
    assert "  行：(16 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 32   （裁剪前的完整画布：33）" in out
    assert out.rstrip().endswith("输出尺寸：(32, 8)")


def test_solve_command(capsys):
    code, out, err = run(capsys, "solve", "--in", "16", "--out", "32", "--limit", "0")
    assert code == 0 and err == ""
    lines = out.splitlines()
    rows = [line.split() for line in lines[lines.index(next(li for li in lines if li.startswith("------"))) + 1 :]]
    assert rows[0][:5] == ["2", "2", "0", "0", "1"]
    assert ["4", "2", "1", "0", "1", "(2,", "2)", "even", "overlap"] in rows
    assert ["3", "2", "1", "1", "1", "(2,", "1)", "checkerboard-prone", "(uneven", "overlap)"] in rows
    code, out, _ = run(capsys, "solve", "--in", "16", "--out", "32", "--max-stride", "1", "--max-dilation", "2", "--lang", "zh")
    assert code == 0 and "在这些范围内没有参数能把 16 映射为 32" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["explain", "--input", "[[1, 2], [3]]"], "ragged list"),
        (["explain", "--input", "[[1, 'a']]"], "every entry must be a number"),
        (["explain", "--input", "[[[1]]]", "--kernel", "[[[1]]]"], "--input: expected a list of numbers (1-d) or a list of rows (2-d), got a 3-d list"),
        (["explain", "--input", "[[[1]]]"], "--input: expected a list of numbers (1-d) or a list of rows (2-d), got a 3-d list of shape (1, 1, 1)"),
        (["explain", "--kernel", "[[[1]]]"], "--kernel: expected a list of numbers (1-d) or a list of rows (2-d), got a 3-d list"),
        (["explain", "--size", "-3,3"], "--size: expected 1 or 2 positive sizes like 3 or 3,3, got (-3, 3)"),
        (["explain", "--stride", "-1"], "stride must be positive"),
        (["explain", "--format", "svg", "-o", "picture.png"], "--format svg does not match the extension of -o picture.png (.png is png)"),
        (["explain", "-o", "/nonexistent-dir/x.txt"], "cannot write /nonexistent-dir/x.txt: the directory /nonexistent-dir does not exist"),
        (["explain", "--input", "[1e300, 1]", "--kernel", "[1e300]"], "input values must lie within +-1e+100 for the explainer"),
        (["solve", "--in", "4", "--out", "8", "--limit", "-1"], "--limit must be 0 (print all) or a positive count, got --limit -1"),
        (["explain", "--input", "[1, 2]", "--kernel", "[[1]]"], "same rank"),
        (["explain", "--input", "[[1, 2]"], "expected a nested list"),
        (["explain", "--stride", "0"], "stride must be positive"),
        (["explain", "--stride", "two"], "--stride: expected an int"),
        (["explain", "--output-padding", "1"], "output_padding must be smaller than either stride or dilation"),
        (["explain", "--padding", "3"], "too small"),
        (["explain", "--size", "9,9"], "at most 64"),
        (["explain", "--kernel-size", "9"], "at most 7 per side"),
        (["explain", "--input", "[0, 1]", "--kernel", "[1, 1]", "--stride", "50"], "at most 40 cells per side"),
        (["explain", "--size", "5,5", "--view", "matrix"], "matrix view is limited to 16 input"),
        (["explain", "--view", "pictures"], "invalid choice"),
        (["explain", "--size", "2", "--input", "[1, 2]"], "either --input or --size"),
        (["explain", "--channels", "3,4", "--groups", "2"], "groups must divide in_channels"),
        (["shape", "--in", "4"], "required: --kernel-size"),
        (["shape", "--in", "2", "--kernel-size", "1", "--padding", "2"], "too small"),
        (["solve", "--in", "0", "--out", "4"], "input size must be between 1"),
        (["solve", "--in", "4", "--out", "8", "--max-kernel", "0"], "kernel bounds"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_on_stderr(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("convtranspose: error: ")
    assert message in err
    assert "Traceback" not in err


def test_errors_follow_the_language(capsys):
    code, _, err = run(capsys, "explain", "--stride", "0", "--lang", "zh")
    assert code == 2 and err.startswith("convtranspose: 错误：")


def test_help_exits_zero(capsys):
    code, out, _ = run(capsys, "explain", "--help")
    assert code == 0 and "--output-padding" in out and "Caps:" in out
    code, out, _ = run(capsys)
    assert code == 0 and "explain" in out


def test_python_dash_m_explain():
    env = dict(os.environ, NO_COLOR="1")
    done = subprocess.run(
        [sys.executable, "-m", "convtranspose", "explain"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.rstrip().endswith("equals conv_transpose: yes")
    np.testing.assert_allclose(final_grid(done.stdout, "en"), GOLDEN["stride1"][1], atol=1e-9)


def test_closed_output_pipe_stops_quietly():
    """``convtranspose explain | head``: a reader that goes away is not an error worth a message."""
    process = subprocess.Popen(
        [sys.executable, "-m", "convtranspose", "explain"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader is gone before the first line is written
    _, err = process.communicate(timeout=120)
    assert process.returncode == 141
    assert err.decode().strip() == ""


def test_version(capsys):
    import convtranspose

    code, out, err = run(capsys, "--version")
    assert code == 0 and out == f"convtranspose {convtranspose.__version__}\n" and err == ""


def test_output_format_follows_the_extension(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="figures need the explain extra")
    png, txt = tmp_path / "out.png", tmp_path / "out.txt"
    assert run(capsys, "explain", "-o", str(png))[0] == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run(capsys, "explain", "-o", str(txt))[0] == 0
    assert txt.read_text(encoding="utf-8").startswith("Transposed convolution, step by step")


def test_html_export_is_one_self_contained_file(tmp_path, capsys):
    page = tmp_path / "page.html"
    code, out, err = run(capsys, "explain", "--stride", "2", "--padding", "1", "-o", str(page))
    assert code == 0 and err == "" and out == f"{page}\n"
    html = page.read_text(encoding="utf-8")
    assert "<script type=\"module\">" in html and "<style>" in html
    assert "src=" not in html and "href=\"http" not in html and "/static/" not in html
    assert '"stride":[2,2]' in html


def test_html_export_of_a_padding_mode_holds_its_fold_step(tmp_path, capsys):
    """A padding mode is shown by the scatter view: the export embeds it (with its fold step) in both
    languages and no other view, which the page disables."""
    import json
    import re

    page = tmp_path / "reflect.html"
    code, out, err = run(capsys, "explain", "--input", "1,2,3,4", "--kernel", "1,10,100", "--padding", "1",
                         "--padding-mode", "reflect", "-o", str(page))
    assert code == 0 and err == "", err
    html = page.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script type="application/json" id="ct-data">(.*?)</script>', html, re.S).group(1))
    for lang in ("en", "zh"):
        base = data[lang]["base"]
        assert base["params"]["padding_mode"] == "reflect" and list(data[lang]["views"]) == ["scatter"]
        fold = [step for step in base["steps"] if step["kind"] == "fold"]
        assert len(fold) == 1 and [m["output_index"] for m in fold[0]["moves"]] == [[1], [2]]
    # output = canvas [1 12 123 234 340 400] cropped to [12 123 234 340], border 1 -> cell 1, 400 -> cell 2
    assert data["en"]["base"]["output"] == [12.0, 124.0, 634.0, 340.0]


def test_zh_figure_without_a_cjk_font_is_one_clear_error(tmp_path, capsys, monkeypatch, recwarn):
    figures = pytest.importorskip("convtranspose.render.figures", reason="figures need the explain extra")
    monkeypatch.setattr(figures, "cjk_font", lambda: None)
    target = tmp_path / "zh.png"
    code, out, err = run(capsys, "explain", "--lang", "zh", "-o", str(target))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "needs a Chinese (CJK) font and none is installed" in err and "fonts-wqy-microhei" in err
    assert not target.exists() and len(recwarn) == 0


def test_wide_text_stacks_grids_and_large_traces_are_summarised(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "explain", "--size", "8,8", "--stride", "4")
    assert code == 0
    assert "Summary: 64 input elements, one line per step" in out
    assert "Step 2/66: x[0,0] = 0 times the kernel" in out
    assert len(out) < 40_000  # the full trace is about 0.8 MB
    code, full, _ = run(capsys, "explain", "--size", "8,8", "--stride", "4", "--detail", "full")
    assert len(full) > 20 * len(out)
    code, narrow, _ = run(capsys, "explain", "--size", "4,4", "--kernel-size", "3", "--stride", "2")
    monkeypatch.setenv("COLUMNS", "400")
    code, wide, _ = run(capsys, "explain", "--size", "4,4", "--kernel-size", "3", "--stride", "2")
    # At 80 columns the contribution and running-sum grids are stacked, at 400 side by side.
    assert any(line.strip() == "running sum" for line in narrow.splitlines())
    assert not any(line.strip() == "running sum" for line in wide.splitlines())
    assert max(map(len, wide.splitlines())) > 110 > max(map(len, narrow.splitlines()))
