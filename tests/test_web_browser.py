"""End-to-end tests of the explainer page in headless Chromium (Debian's package, driven by Playwright).

The page is loaded from a real ``convtranspose serve`` process and, exported with
``explain --format html``, from disk (file://). The expected numbers are computed here by the
library's ``conv_transpose`` and by torch when installed, never read from the page's own data.
Any console error, page error or request that leaves 127.0.0.1 fails the test. Screenshots go to
``CT_SCREENSHOTS`` (default: a pytest temporary directory; the path is printed).

Skipped, with the reason shown, when Playwright or /usr/bin/chromium is missing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from convtranspose import conv_transpose

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright==1.64.1)")
pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")

from web_server import running_server  # noqa: E402

CHROMIUM = os.environ.get("CT_CHROMIUM", "/usr/bin/chromium")
if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server():
    with running_server() as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("CT_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


class Guard:
    """Records console errors, page errors and every request; aborts requests leaving the machine."""

    def __init__(self, page, allowed_prefixes):
        self.errors: list[str] = []
        self.expected_errors: list[str] = []
        self.outside: list[str] = []
        self.allow_422 = False
        self.allowed = tuple(allowed_prefixes)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.route("**/*", self._route)

    def _console(self, message):
        if message.type != "error":
            return
        text = f"console {message.type}: {message.text} ({message.location.get('url', '')})"
        # A deliberately invalid setting: the browser reports the API's 422 answer as a failed load.
        if self.allow_422 and "status of 422" in message.text and message.location.get("url", "").endswith("/api/explain"):
            self.expected_errors.append(text)
        else:
            self.errors.append(text)

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.allowed) or url.startswith("data:"):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def check(self):
        assert self.outside == [], f"requests left the machine: {self.outside}"
        assert self.errors == [], self.errors


def new_page(browser, allowed):
    # bypass_csp: Playwright polls with eval(), which the page's Content-Security-Policy forbids.
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, device_scale_factor=1, bypass_csp=True)
    page = context.new_page()
    return page, Guard(page, allowed)


def wait_ready(page):
    page.wait_for_function("window.__ct && window.__ct.ready === true", timeout=30_000)


def output_grid(page) -> dict:
    """{index tuple: displayed number} of the output grid on the page."""
    cells = page.eval_on_selector_all(
        "#output-grid .cell", "cells => cells.map(c => [c.dataset.index, c.textContent])"
    )
    return {tuple(int(i) for i in index.split(",")): float(text) for index, text in cells}


def reference(x, k, stride, padding, output_padding=0, dilation=1, bias=None):
    """conv_transpose of one plane, checked against torch when it is installed."""
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    b = None if bias is None else np.array([bias])
    kwargs = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    ours = conv_transpose(x[None, None], k[None, None], b, **kwargs)[0, 0]
    try:
        import torch
    except ImportError:
        return ours
    fn = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d}[x.ndim]
    theirs = fn(torch.tensor(x[None, None]), torch.tensor(k[None, None]), None if b is None else torch.tensor(b), **kwargs)
    np.testing.assert_allclose(ours, theirs.numpy()[0, 0], rtol=1e-12, atol=1e-12)
    return ours


def assert_grid_equals(page, expected):
    shown = output_grid(page)
    assert sorted(shown) == sorted(product(*(range(n) for n in expected.shape))), (sorted(shown), expected.shape)
    for index, value in shown.items():
        assert value == pytest.approx(expected[index], rel=1e-4, abs=1e-9), (index, value, expected[index])


def terms_of(cell, x_shape, k_shape, stride, padding, dilation=(1, 1)):
    """(input index, tap) pairs reaching output ``cell``: i*s + t*d - p == o on every axis."""
    pairs = []
    for i in product(*(range(n) for n in x_shape)):
        for t in product(*(range(n) for n in k_shape)):
            if all(ii * s + tt * d - p == o for ii, tt, s, d, p, o in zip(i, t, stride, dilation, padding, cell)):
                pairs.append((i, t))
    return pairs


def answered(page, act):
    """Run ``act()``, wait for the API's answer to it *and* for the page to have shown it (the
    response arrives before the page has parsed and rendered it); returns the response."""
    before = page.evaluate("window.__ct.answers")
    with page.expect_response(lambda r: r.url.endswith("/api/explain")) as answer:
        act()
    page.wait_for_function(f"window.__ct.answers > {before}")
    return answer.value


def set_number(page, selector, value):
    """Type a value into a number field and wait for the API's answer, shown."""
    return answered(page, lambda: page.fill(selector, str(value)))


def change_number(page, selector, value):
    """A size field: applied on "change" (Enter/blur), which rebuilds the editors and asks the API."""

    def act():
        page.fill(selector, str(value))
        page.press(selector, "Enter")
        page.dispatch_event(selector, "change")

    return answered(page, act)


SEED_X = [[0.0, 1.0], [2.0, 3.0]]
SEED_K = [[1.1, 2.2], [3.3, 4.4]]


def test_served_page_end_to_end(browser, server, shots):
    page, guard = new_page(browser, [server.rstrip("/")])
    page.goto(server)
    wait_ready(page)
    assert page.inner_text("h1") == "Transposed convolution, step by step"
    assert_grid_equals(page, reference(SEED_X, SEED_K, 1, 0))
    page.screenshot(path=str(shots / "page_en_seed.png"), full_page=True)

    # Stride 2 and padding 1 on both axes, through the per-dimension controls.
    for selector, value in (("#stride-0", 2), ("#stride-1", 2), ("#padding-0", 1), ("#padding-1", 1)):
        assert set_number(page, selector, value).status == 200
    page.wait_for_function("document.querySelectorAll('#output-grid .cell').length === 4")
    expected = reference(SEED_X, SEED_K, 2, 1)
    assert_grid_equals(page, expected)
    assert "rows: (2 - 1)*2 - 2*1 + 1*(2 - 1) + 0 + 1 = 2" in page.inner_text("#formula")

    # Step through: dilate, 4 scatter steps, full canvas, crop.
    page.click("#first")
    assert page.inner_text("#step-count") == "Step 1/7"
    titles = []
    for _ in range(6):
        page.click("#next")
        titles.append(page.inner_text("#step-caption h3"))
    assert titles[0] == "Step 2/7: x[0,0] = 0 times the kernel"
    assert titles[3] == "Step 5/7: x[1,1] = 3 times the kernel"
    assert titles[-1].startswith("Step 7/7: padding (1, 1): crop that many cells")
    assert page.locator("#canvas-grid .removed").count() == 16 - 4  # a 4x4 canvas keeps its 2x2 centre
    assert_grid_equals(page, expected)
    # At step 5 the canvas holds x[1,1]'s copy: the four marked cells are 3 * K at rows/cols 2..3.
    page.fill("#step-slider", "4")
    marked = page.eval_on_selector_all("#canvas-grid .hi", "cs => cs.map(c => [c.dataset.index, c.textContent])")
    assert sorted(index for index, _ in marked) == ["2,2", "2,3", "3,2", "3,3"]
    page.hover('#output-grid .cell[data-index="1,1"]')
    page.screenshot(path=str(shots / "page_en_stride2_step5.png"), full_page=True)

    # Hover an output cell: its terms (computed here independently) and their sum.
    page.click("#last")
    page.hover('#output-grid .cell[data-index="0,0"]')
    pairs = terms_of((0, 0), (2, 2), (2, 2), (2, 2), (1, 1))
    items = page.locator("#inspect-terms li").all_inner_texts()
    assert len(items) == len(pairs) == 1
    (i, t), = pairs
    assert items[0] == f"x[{i[0]},{i[1]}] · K[{t[0]},{t[1]}] = 0 × 4.4 = 0"
    assert float(page.inner_text("#inspect-value")) == pytest.approx(expected[0, 0])
    page.hover('#output-grid .cell[data-index="1,1"]')
    assert float(page.inner_text("#inspect-value")) == pytest.approx(expected[1, 1])
    assert page.locator("#inspect-terms li").count() == len(terms_of((1, 1), (2, 2), (2, 2), (2, 2), (1, 1)))
    # Hover an input cell: where its copy lands (x[1,1] at canvas 2..3 -> output 1 only).
    page.hover('#input-grid .cell[data-index="1,1"]')
    assert page.locator("#inspect-landings li").all_inner_texts() == ["K[0,0] → output[1,1]"]
    assert page.locator("#output-grid .landing").count() == 1

    # Keyboard: focus the output grid, move with the arrow keys, the inspector follows.
    page.focus('#output-grid .cell[tabindex="0"]')
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.index") == "0,1"
    assert page.inner_text("#inspect-title").startswith("output[0,1] receives")
    page.keyboard.press("ArrowDown")
    assert page.inner_text("#inspect-title").startswith("output[1,1] receives")

    # Play runs the steps by itself; pause stops it.
    page.click("#first")
    page.select_option("#speed", "4×")
    page.click("#play")
    page.wait_for_function("document.getElementById('step-count').textContent === 'Step 7/7'", timeout=10_000)
    assert page.get_attribute("#play", "aria-pressed") == "false"  # stopped at the end

    # An invalid setting: output_padding 2 with stride 2 -> the rule explained inline, with the values.
    guard.allow_422 = True
    assert set_number(page, "#output_padding-0", 2).status == 422
    page.wait_for_selector("#error:not([hidden])")
    error = page.inner_text("#error")
    assert "These settings are invalid:" in error
    assert "output_padding must be smaller than either stride or dilation" in error and "output_padding=(2, 0)" in error
    assert_grid_equals(page, expected)  # the last valid result stays, dimmed
    page.screenshot(path=str(shots / "page_en_invalid.png"), full_page=True)
    assert set_number(page, "#output_padding-0", 1).status == 200
    guard.allow_422 = False
    assert len(guard.expected_errors) == 1
    page.wait_for_selector("#error", state="hidden")
    expected = reference(SEED_X, SEED_K, 2, 1, output_padding=(1, 0))
    page.wait_for_function("document.querySelectorAll('#output-grid .cell').length === 6")
    assert_grid_equals(page, expected)

    # Every view shows the same output.
    for view in ("conv", "matrix", "phase", "overlap", "scatter"):
        answered(page, lambda: page.click(f"#tab-{view}"))
        page.wait_for_function(f"document.getElementById('tab-{view}').getAttribute('aria-selected') === 'true'")
        page.wait_for_selector("#output-grid")
        assert_grid_equals(page, expected)
        if view == "phase":
            page.screenshot(path=str(shots / "page_en_phase.png"), full_page=True)

    # The generated code is the current settings.
    code = page.inner_text("#code-convtranspose")
    assert "stride=2, padding=1, output_padding=(1, 0), dilation=1" in code
    page.click('button.copy[data-code="pytorch"]')
    page.wait_for_function("document.querySelector('button.copy[data-code=\"pytorch\"]').textContent === '✓ Copied'")

    # Chinese.
    answered(page, lambda: page.click("#lang-toggle"))
    page.wait_for_function("document.querySelector('h1').textContent === '转置卷积：逐步计算'")
    assert page.inner_text("#lang-toggle") == "English"
    assert "步长" in page.inner_text("#settings") and "输出填充" in page.inner_text("#settings")
    page.click("#last")
    assert page.inner_text("#step-caption h3").startswith("步骤 8/8：输出填充 (1, 0)")
    page.click("#first")
    page.click("#next")
    assert page.inner_text("#step-caption h3") == "步骤 2/8：x[0,0] = 0 乘以卷积核"
    page.hover('#output-grid .cell[data-index="1,1"]')
    assert page.inner_text("#inspect-title").startswith("输出[1,1] 收到")
    assert_grid_equals(page, expected)
    page.click("#last")
    page.hover('#output-grid .cell[data-index="1,1"]')
    page.screenshot(path=str(shots / "page_zh.png"), full_page=True)

    # A preset: the checkerboard-prone layer, and its overlap map's warning.
    answered(page, lambda: page.select_option("#preset", "checkerboard"))
    page.wait_for_function("document.querySelectorAll('#output-grid .cell').length === 81")
    assert_grid_equals(page, reference(np.ones((4, 4)), np.ones((3, 3)), 2, 0))
    guard.check()
    page.context.close()


def mode_reference(x, k, stride, padding, padding_mode, output_padding=0, dilation=1):
    """conv_transpose of one plane with a padding form and mode; with torch installed, checked
    against the definition (the VJP of torch's padded ordinary convolution, padding resolved from
    the forms' formulas in tests/padding_oracle.py)."""
    from padding_oracle import expected_pads, torch_vjp

    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    ours = conv_transpose(x[None, None], k[None, None], stride=stride, padding=padding, output_padding=output_padding,
                          dilation=dilation, padding_mode=padding_mode)[0, 0]
    try:
        import torch  # noqa: F401
    except ImportError:
        return ours
    per = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * x.ndim
    pads, ops = expected_pads(padding, k.shape, per(stride), per(dilation), per(output_padding))
    theirs, _ = torch_vjp(x[None, None], k[None, None], None, pads=pads, ops=ops, mode=padding_mode,
                          stride=per(stride), dilation=per(dilation), groups=1)
    np.testing.assert_allclose(ours, theirs.detach().numpy()[0, 0], rtol=1e-12, atol=1e-12)
    return ours


def select(page, selector, value):
    """Choose an option and wait for the API's answer, shown."""
    return answered(page, lambda: page.select_option(selector, value))


def test_padding_forms_and_modes_on_the_page(browser, server, shots):
    page, guard = new_page(browser, [server.rstrip("/")])
    page.goto(server)
    wait_ready(page)

    # The reflect preset (1-d): the border of the canvas folds back instead of being cropped.
    assert select(page, "#preset", "reflect").status == 200
    page.wait_for_function("document.querySelectorAll('#output-grid .cell').length === 4")
    x, k = [1.0, 2.0, 3.0, 4.0], [1.0, 10.0, 100.0]
    expected = mode_reference(x, k, 1, 1, "reflect")
    assert_grid_equals(page, expected)
    assert page.input_value("#padding-mode") == "reflect"
    assert page.is_disabled("#tab-conv") and not page.is_disabled("#tab-scatter")
    page.click("#last")
    caption = page.inner_text("#step-caption h3")
    assert caption.startswith("Step 8/8: padding_mode 'reflect': fold the border back onto the output"), caption
    # Canvas cells 0 and 5 (outside the window 1..4) fold onto output cells 1 and 2 (mirrored about the edge).
    assert sorted(page.eval_on_selector_all("#canvas-grid .folded", "cs => cs.map(c => c.dataset.index)")) == ["0", "5"]
    assert sorted(page.eval_on_selector_all("#output-grid .fold-target", "cs => cs.map(c => c.dataset.index)")) == ["1", "2"]
    page.hover('#output-grid .cell[data-index="1"]')
    items = page.locator("#inspect-terms li").all_inner_texts()
    # output[1] = canvas 2 (x[0]*K[2] + x[1]*K[1] + x[2]*K[0]) + canvas 0 folded (x[0]*K[0])
    assert len(items) == 4 and sum("folded from canvas[0]" in item for item in items) == 1, items
    assert float(page.inner_text("#inspect-value")) == pytest.approx(expected[1])
    page.hover('#input-grid .cell[data-index="0"]')
    assert "K[0] → output[1] via canvas[0], folded back" in page.inner_text("#inspect-landings")
    page.screenshot(path=str(shots / "page_en_reflect_fold.png"), full_page=True)

    # 'same' padding with stride 2 (2-d preset), then circular: output = input x stride, every cell checked.
    assert select(page, "#preset", "same").status == 200
    page.wait_for_function("document.querySelectorAll('#output-grid .cell').length === 36")
    x3 = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
    k3 = [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    assert_grid_equals(page, mode_reference(x3, k3, 2, "same", "zeros"))
    assert page.inner_text("#padding-0-resolved") == "(0, 1)"  # total crop 3 - 2 = 1, the odd cell at the end
    assert "'same': total crop 1*(3 - 1) + 1 - 2 + 0 = 1, split (0, 1)" in page.inner_text("#formula")
    assert select(page, "#padding-mode", "circular").status == 200
    assert_grid_equals(page, mode_reference(x3, k3, 2, "same", "circular"))
    assert select(page, "#padding-form", "same_lower").status == 200
    assert_grid_equals(page, mode_reference(x3, k3, 2, "same_lower", "circular"))
    assert page.inner_text("#padding-0-resolved") == "(1, 0)"

    # Asymmetric (before, after) pairs, typed per axis; starts from the crop 'same_lower' resolved to.
    assert select(page, "#padding-form", "pairs").status == 200
    assert page.input_value("#pad-before-0") == "1" and page.input_value("#pad-after-0") == "0"
    assert set_number(page, "#pad-after-1", 2).status == 200
    assert set_number(page, "#pad-before-0", 2).status == 200
    page.wait_for_function("document.querySelectorAll('#output-grid .cell').length === 5 * 4")
    assert_grid_equals(page, mode_reference(x3, k3, 2, ((2, 0), (1, 2)), "circular"))
    assert "PyTorch's conv_transpose2d has no padding_mode" in page.inner_text("#code-pytorch")
    assert "padding=((2, 0), (1, 2)), output_padding=0, dilation=1, padding_mode='circular'" in page.inner_text("#code-convtranspose")
    page.screenshot(path=str(shots / "page_en_pairs_circular.png"), full_page=True)

    # In Chinese, an invalid setting is explained in Chinese with its numbers.
    answered(page, lambda: page.click("#lang-toggle"))
    page.wait_for_function("document.querySelector('h1').textContent === '转置卷积：逐步计算'")
    assert select(page, "#padding-mode", "reflect").status == 200
    guard.allow_422 = True
    assert set_number(page, "#pad-before-0", 5).status == 422
    page.wait_for_selector("#error:not([hidden])")
    error = page.inner_text("#error")
    assert "这些设置无效" in error
    assert "填充模式 'reflect' 要求每一维的填充都小于输出尺寸" in error and "(前, 后) = (5, 0)" in error, error
    page.screenshot(path=str(shots / "page_zh_invalid_reflect.png"), full_page=True)
    guard.allow_422 = False
    guard.check()
    page.context.close()


def test_step_change_rerenders_fast_on_the_largest_grid(browser, server, shots):
    """8x8 input (the page's limit), 7x7 kernel, stride 4: a 35x35 canvas and 66 steps."""
    page, guard = new_page(browser, [server.rstrip("/")])
    page.goto(server)
    wait_ready(page)
    for selector, value in (("#input-rows", 8), ("#input-cols", 8), ("#kernel-rows", 7), ("#kernel-cols", 7)):
        change_number(page, selector, value)
    for selector in ("#stride-0", "#stride-1"):
        set_number(page, selector, 4)
    page.wait_for_function("document.querySelectorAll('#canvas-grid .cell').length === 35 * 35", timeout=90_000)
    x = np.zeros((8, 8))
    x[:2, :2] = SEED_X  # the editor keeps the seed values and fills new cells with 0 (kernel: 1)
    k = np.ones((7, 7))
    k[:2, :2] = SEED_K
    assert_grid_equals(page, reference(x, k, 4, 0))
    page.click("#first")
    timings = page.evaluate(
        """() => {
            const out = [];
            for (let i = 0; i < 40; i++) {
                const t0 = performance.now();
                document.getElementById('next').click();
                void document.body.offsetHeight;
                out.push(performance.now() - t0);
            }
            return out;
        }"""
    )
    median, worst = statistics.median(timings), max(timings)
    report = {"canvas": [35, 35], "steps": 66, "median_ms": round(median, 2), "max_ms": round(worst, 2), "samples": len(timings)}
    (shots / "rerender_timing.json").write_text(json.dumps(report))
    print(f"\nstep re-render on the largest grid: median {median:.1f} ms, max {worst:.1f} ms over {len(timings)} steps")
    page.screenshot(path=str(shots / "page_en_largest.png"), full_page=True)
    # The goal is < 50 ms (median 12 ms, worst 25 ms measured on a quiet 2-core machine); under a loaded parallel
    # test run the timer is noisy, so the assertion keeps a 3x margin and the number is reported.
    assert median < 150, report
    guard.check()
    page.context.close()


def test_exported_html_from_disk(browser, tmp_path, shots):
    x = [[0, 1, 2], [3, 4, 5]]
    k = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    target = tmp_path / "page.html"
    result = subprocess.run(
        [sys.executable, "-m", "convtranspose", "explain", "--input", json.dumps(x), "--kernel", json.dumps(k),
         "--stride", "2", "--padding", "1", "--output-padding", "1", "--bias", "0.5", "-o", str(target)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    url = target.resolve().as_uri()
    page, guard = new_page(browser, [url])
    page.goto(url)
    wait_ready(page)
    expected = reference(x, k, 2, 1, output_padding=1, bias=0.5)
    assert_grid_equals(page, expected)
    assert "Offline copy" in page.inner_text("#static-note")
    assert page.is_disabled("#stride-0")
    # Steps: dilate, 6 scatter, full canvas, crop, output_padding, bias.
    page.click("#first")
    for _ in range(9):
        page.click("#next")
    assert page.inner_text("#step-caption h3").startswith("Step 10/11: output_padding (1, 1)")
    assert page.locator("#output-grid .added, #output-grid .bias-only").count() == 4 + 6 - 1
    page.click("#next")
    assert page.inner_text("#step-caption h3") == "Step 11/11: add the bias 0.5 to every output cell"
    page.hover('#output-grid .cell[data-index="2,2"]')
    pairs = terms_of((2, 2), (2, 3), (3, 3), (2, 2), (1, 1))
    assert page.locator("#inspect-terms li").count() == len(pairs) + 1  # the terms, then "+ bias 0.5"
    assert float(page.inner_text("#inspect-value")) == pytest.approx(expected[2, 2])
    page.screenshot(path=str(shots / "export_en.png"), full_page=True)
    for view in ("conv", "matrix", "phase", "overlap"):
        page.click(f"#tab-{view}")
        page.wait_for_function(f"document.getElementById('tab-{view}').getAttribute('aria-selected') === 'true'")
        assert_grid_equals(page, expected)
    page.click("#lang-toggle")
    page.wait_for_function("document.querySelector('h1').textContent === '转置卷积：逐步计算'")
    assert "离线副本" in page.inner_text("#static-note")
    assert_grid_equals(page, expected)
    page.screenshot(path=str(shots / "export_zh_overlap.png"), full_page=True)
    guard.check()
    page.context.close()


def test_notebook_repr_is_the_offline_page(browser, tmp_path):
    from convtranspose.explain import explain

    html = explain([1.0, 2.0, 3.0], [1.0, 10.0], stride=2)._repr_html_()
    assert html.startswith("<iframe srcdoc=")
    target = tmp_path / "notebook.html"
    target.write_text(f"<!DOCTYPE html><html><body>{html}</body></html>", encoding="utf-8")
    url = target.resolve().as_uri()
    page, guard = new_page(browser, [url, "about:srcdoc"])
    page.goto(url)
    frame = page.frame_locator("iframe")
    frame.locator("#output-grid .cell").first.wait_for()
    shown = frame.locator("#output-grid .cell").all_inner_texts()
    expected = reference([1.0, 2.0, 3.0], [1.0, 10.0], 2, 0)
    assert [float(v) for v in shown] == pytest.approx(expected.tolist())
    guard.check()
    page.context.close()
