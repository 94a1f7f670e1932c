"""The web explainer's JSON API through Starlette's TestClient, and a bounded load test on loopback.

Results are checked against the naive NumPy loop reference (tests/reference.py) and torch when
installed, never against the trace the API itself is built from. Every bad request must be a 4xx
JSON answer with an ``error`` sentence: never a 5xx, never a traceback.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle import conv_transpose_naive, require_torch
from padding_oracle import expected_pads
from web_server import free_port, running_server

pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
pytest.importorskip("httpx2", reason="Starlette's TestClient needs httpx2")
from starlette.testclient import TestClient  # noqa: E402

from convtranspose.web.api import MAX_BODY_BYTES, PRESETS  # noqa: E402
from convtranspose.web.server import create_app, is_loopback  # noqa: E402

SEED = {"input": [[0, 1], [2, 3]], "kernel": [[1.1, 2.2], [3.3, 4.4]]}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def expected(body: dict) -> np.ndarray:
    """The naive reference's output for a request body (1-d or 2-d plane, any padding form and mode);
    the padding forms are resolved from their definitions (tests/padding_oracle.py)."""
    x = np.asarray(body["input"], dtype=np.float64)
    w = np.asarray(body["kernel"], dtype=np.float64)
    ndim = w.ndim
    per_dim = {name: np.broadcast_to(np.asarray(body.get(name, default)).astype(int), (ndim,)).tolist()
               for name, default in (("stride", 1), ("output_padding", 0), ("dilation", 1))}
    padding = body.get("padding", 0)
    if isinstance(padding, list):
        padding = [tuple(int(v) for v in p) if isinstance(p, list) else int(p) for p in padding]
        padding = padding * ndim if len(padding) == 1 else padding
    elif not isinstance(padding, str):
        padding = int(padding)
    pads, ops = expected_pads(padding, w.shape, per_dim["stride"], per_dim["dilation"], per_dim["output_padding"])
    bias = None if body.get("bias") is None else np.array([body["bias"]])
    return conv_transpose_naive(
        x[None, None], w[None, None], bias, stride=per_dim["stride"], padding=pads, output_padding=ops,
        dilation=per_dim["dilation"], padding_mode=body.get("padding_mode", "zeros"),
    )[0, 0]


def post(client, body, **kwargs):
    response = client.post("/api/explain", content=body if isinstance(body, (bytes, str)) else json.dumps(body), **kwargs)
    return response.status_code, response.json()


# --------------------------------------------------------------------------------------------
# Valid requests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["scatter", "conv", "matrix", "phase", "overlap"])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"stride": 2, "padding": 1, "output_padding": 1},
        {"stride": [1, 2], "dilation": [2, 1]},
        {"bias": -0.5, "padding": [1, 0]},
    ],
)
def test_every_view_returns_the_reference_output(client, view, params):
    body = {"input": [[0, 1, 2], [3, 4, 5]], "kernel": [[1, -2], [0.5, 3]], "view": view, **params}
    status, data = post(client, body)
    assert status == 200, data
    np.testing.assert_allclose(np.array(data["output"]), expected(body), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.array(data["view_data"]["output"]), expected(body), rtol=1e-12, atol=1e-12)
    assert data["output_shape"] == list(expected(body).shape)
    assert data["matches_reference"] is True
    assert data["steps"][0]["kind"] == "dilate_kernel" and data["view"] == view


def test_steps_terms_and_landings(client):
    body = {**SEED, "stride": 2, "padding": 1, "output_padding": 1}
    status, data = post(client, body)
    assert status == 200
    kinds = [step["kind"] for step in data["steps"]]
    assert kinds == ["dilate_kernel"] + ["scatter"] * 4 + ["full_canvas", "crop", "output_padding"]
    assert data["steps"][2]["title"] == "x[0,1] = 1 times the kernel"
    # The full canvas is 4x4 (3 + 1 per axis); the last scatter step's running sum is it.
    canvas = np.array(data["steps"][4]["canvas"])
    assert canvas.shape == (4, 4) and data["full_shape"] == [4, 4]
    out = expected(body)
    for entry in data["terms"]:
        cell = tuple(entry["cell"])
        assert entry["value"] == pytest.approx(out[cell], abs=1e-12)
        assert sum(term["product"] for term in entry["terms"]) == pytest.approx(out[cell], abs=1e-12)
        for term in entry["terms"]:  # x[i] * K[t] lands on i*s + t*d - p
            assert [i * 2 + t - 1 for i, t in zip(term["input_index"], term["tap"])] == list(cell)
    landing = data["landings"][3]  # x[1, 1] = 3 lands at canvas (2..3, 2..3), output = canvas - 1
    assert landing["input_index"] == [1, 1] and landing["value"] == 3
    assert sorted(tuple(c["output"]) for c in landing["cells"] if c["output"]) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert data["formula"][1] == "rows: (2 - 1)*2 - 2*1 + 1*(2 - 1) + 1 + 1 = 3   (full canvas before the crop: 4)"


def test_chinese_answer_and_generated_code_runs(client):
    body = {**SEED, "stride": [1, 2], "bias": 0.25, "lang": "zh"}
    status, data = post(client, body)
    assert status == 200
    assert data["steps"][1]["title"] == "x[0,0] = 0 乘以卷积核" and data["formula"][0].startswith("输出尺寸公式")
    namespace: dict = {}
    code = data["code"]["convtranspose"].replace("print(y[0, 0])", "result = y[0, 0]")
    exec(compile(code, "<generated>", "exec"), namespace)  # the page's copyable convtranspose code
    np.testing.assert_allclose(namespace["result"], expected(body), rtol=1e-12)
    torch = require_torch()
    namespace = {}
    exec(compile(data["code"]["pytorch"].replace("print(y[0, 0])", "result = y[0, 0]"), "<generated>", "exec"), namespace)
    np.testing.assert_allclose(namespace["result"].numpy(), expected(body), rtol=1e-12)
    assert isinstance(torch.__version__, str)


def test_one_dimensional_and_presets(client):
    for preset in PRESETS:
        body = {key: value for key, value in preset.items() if key != "id"}
        status, data = post(client, body)
        assert status == 200, (preset["id"], data)
        np.testing.assert_allclose(np.array(data["output"]), expected(body), rtol=1e-12, atol=1e-12)


@st.composite
def padded_requests(draw):
    """A 1-d or 2-d request with any padding form and mode (valid or not: the library decides)."""
    ndim = draw(st.integers(1, 2))
    def grid(max_side):
        shape = draw(st.lists(st.integers(1, max_side), min_size=ndim, max_size=ndim))
        values = draw(st.lists(st.integers(-3, 3), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        return np.array(values, dtype=float).reshape(shape).tolist()
    per_dim = lambda lo, hi: draw(st.lists(st.integers(lo, hi), min_size=ndim, max_size=ndim))
    stride, dilation = per_dim(1, 3), per_dim(1, 2)
    output_padding = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)]
    entry = st.one_of(st.integers(0, 2), st.lists(st.integers(0, 2), min_size=2, max_size=2))
    padding = draw(st.one_of(
        st.integers(0, 2), st.sampled_from(["valid", "same", "same_lower"]),
        st.lists(entry, min_size=ndim, max_size=ndim),
    ))
    body = {"input": grid(4), "kernel": grid(3), "stride": stride, "dilation": dilation,
            "output_padding": output_padding, "padding": padding,
            "padding_mode": draw(st.sampled_from(["zeros", "circular", "reflect", "replicate"])),
            "lang": draw(st.sampled_from(["en", "zh"]))}
    if draw(st.booleans()):
        body["bias"] = draw(st.integers(-2, 2)) / 2
    return body


@given(body=padded_requests())
def test_padding_forms_and_modes_through_the_api(client, body):
    """Every padding form and mode: the output equals the NumPy reference (forms resolved from their
    definitions), each output cell's listed terms (including border cells folded onto it) sum to it,
    each input's landings are among those terms, and both generated snippets compute the same output.
    An invalid combination answers 422 exactly when the library refuses the same call."""
    import convtranspose
    from convtranspose.errors import ConvTransposeError

    status, data = post(client, body)
    x = np.asarray(body["input"])[None, None]
    w = np.asarray(body["kernel"])[None, None]
    padding = [tuple(p) if isinstance(p, list) else p for p in body["padding"]] if isinstance(body["padding"], list) else body["padding"]
    call = dict(stride=body["stride"], padding=padding, output_padding=body["output_padding"],
                dilation=body["dilation"], padding_mode=body["padding_mode"])
    if status == 422:
        with pytest.raises(ConvTransposeError):
            convtranspose.conv_transpose(x, w, **call)
        return
    assert status == 200, data
    out = expected(body)
    np.testing.assert_allclose(np.array(data["output"]), out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(convtranspose.conv_transpose(x, w, **call)[0, 0] + (body.get("bias") or 0), out, atol=1e-12)
    kinds = [step["kind"] for step in data["steps"]]
    assert ("fold" in kinds) == (body["padding_mode"] != "zeros" and any(b or a > 0 for b, a in data["params"]["pads"]))
    bias = body.get("bias") or 0
    before = [b for b, _ in data["params"]["pads"]]
    terms = {}
    for entry in data["terms"]:
        cell = tuple(entry["cell"])
        assert entry["value"] == pytest.approx(out[cell], abs=1e-12)
        assert sum(t["product"] for t in entry["terms"]) + bias == pytest.approx(out[cell], abs=1e-12)
        for t in entry["terms"]:
            own = [c + b for c, b in zip(cell, before)]
            assert (t["canvas"] != own) == t["folded"]
            # x[i] * K[t] is written to canvas i*s + t*d
            assert t["canvas"] == [i * s + k * d for i, k, s, d in zip(t["input_index"], t["tap"], body["stride"], body["dilation"])]
        terms[cell] = {(tuple(t["input_index"]), tuple(t["tap"])) for t in entry["terms"]}
    for landing in data["landings"]:
        for c in landing["cells"]:
            if c["output"] is not None:
                assert (tuple(landing["input_index"]), tuple(c["tap"])) in terms[tuple(c["output"])]
    namespace: dict = {}
    exec(compile(data["code"]["convtranspose"].replace("print(y[0, 0])", "result = y[0, 0]"), "<generated>", "exec"), namespace)
    np.testing.assert_allclose(namespace["result"], out, rtol=1e-12, atol=1e-12)
    require_torch()
    namespace = {}
    exec(compile(data["code"]["pytorch"].replace("print(y[0, 0])", "result = y[0, 0]"), "<generated>", "exec"), namespace)
    np.testing.assert_allclose(namespace["result"].detach().numpy(), out, rtol=1e-12, atol=1e-12)


def test_the_page_and_its_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/static/app.js">' in page.text and "http://" not in page.text
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert "http://" not in asset.text and "https://" not in asset.text and "@import" not in asset.text
    assert client.get("/?lang=zh").text.count('"lang":"zh"') >= 1


# --------------------------------------------------------------------------------------------
# Bad requests: 4xx JSON with an error sentence
# --------------------------------------------------------------------------------------------

BAD = [
    (b"", 400, "the body is empty"),
    (b"{", 400, "the body is not valid JSON"),
    (b"\xff\xfe", 400, "UTF-8"),
    (b"[1, 2]", 400, "the body must be a JSON object"),
    (b'{"input": [1, 2]}', 400, "kernel is required"),
    (b'{"input": [1, NaN], "kernel": [1]}', 400, "NaN, which JSON does not allow"),
    (b'{"input": [1, Infinity], "kernel": [1]}', 400, "Infinity, which JSON does not allow"),
    (b'{"input": [1, -Infinity], "kernel": [1]}', 400, "-Infinity"),
    (b'{"input": [1, 1e999], "kernel": [1]}', 400, "input: every entry must be a finite number"),
    (b'{"input": "12", "kernel": [1]}', 400, "input must be a list of numbers (1-d) or a list of rows (2-d), got str"),
    (b'{"input": [1, true], "kernel": [1]}', 400, "input: every entry must be a number, got True"),
    (b'{"input": [1, null], "kernel": [1]}', 400, "input: every entry must be a number"),
    (b'{"input": [], "kernel": [1]}', 400, "input must not be empty"),
    (b'{"input": [[]], "kernel": [1]}', 400, "input: rows must not be empty"),
    (b'{"input": [[1, 2], [3]], "kernel": [[1]]}', 400, "ragged grid (row 1 has 1 entries, row 0 has 2)"),
    (b'{"input": [[1, 2], 3], "kernel": [[1]]}', 400, "ragged grid (row 1 is a number"),
    (b'{"input": [[[1]]], "kernel": [[1]]}', 400, "input must be 1-d or 2-d"),
    (b'{"input": [1], "kernel": [[1]]}', 422, "same rank"),
    (b'{"input": [1], "kernel": [1], "stride": "2"}', 400, "stride must be an int or a list of ints"),
    (b'{"input": [1], "kernel": [1], "stride": 1.5}', 400, "stride must be an int"),
    (b'{"input": [1], "kernel": [1], "stride": [1, 1, 1]}', 400, "list of 1 or 2 ints"),
    (b'{"input": [1], "kernel": [1], "stride": 0}', 422, "stride must be positive (>= 1), got stride=(0,)"),
    (b'{"input": [1], "kernel": [1], "padding": -1}', 422, "padding"),
    (b'{"input": [[1,2],[3,4]], "kernel": [[1,1],[1,1]], "output_padding": 1}', 422,
     "output_padding must be smaller than either stride or dilation"),
    (b'{"input": [1], "kernel": [1], "padding": 3}', 422, "too small"),
    (b'{"input": [1], "kernel": [1], "dilation": [2, 2]}', 422, "dilation"),
    (b'{"input": [1], "kernel": [1], "stride": 99999999999999999999}', 422, "stride"),
    (b'{"input": [1], "kernel": [1], "bias": "x"}', 400, "bias: every entry must be a number"),
    (b'{"input": [1], "kernel": [1], "view": "pictures"}', 400, "view must be one of scatter, conv, matrix, phase, overlap"),
    (b'{"input": [1], "kernel": [1], "lang": "fr"}', 400, "lang must be one of en, zh"),
    (b'{"input": [1], "kernel": [1], "padding_mode": "mirror"}', 400,
     "padding_mode must be one of zeros, circular, reflect, replicate, got 'mirror'"),
    (b'{"input": [1], "kernel": [1], "colour": 1}', 400, "unknown field 'colour'"),
    (b'{"input": [1], "kernel": [1], "padding": "full"}', 400,
     "padding must be an int, a list of ints or [before, after] pairs (one per dimension), or one of 'valid', "
     "'same', 'same_lower'; got 'full'"),
    (b'{"input": [1], "kernel": [1], "padding": [[1, 2, 3]]}', 400, "padding: a [before, after] pair has 2 entries, got [1, 2, 3]"),
    (b'{"input": [1], "kernel": [1], "padding": [[1, 0.5]]}', 400, "padding must be an int"),
    (b'{"input": [1], "kernel": [1], "padding": [[0, -1]]}', 422,
     "padding must be non-negative (>= 0), got padding=((0, -1),) (dimension 0: (before, after) = (0, -1))"),
    (b'{"input": [1, 2], "kernel": [1, 1], "padding": [[2, 1]]}', 422, "before + after may be at most (2,) here"),
    (b'{"input": [1, 2], "kernel": [1, 1, 1], "stride": 2, "padding": 2, "padding_mode": "reflect"}', 422,
     "padding_mode='reflect' needs padding smaller than the output size"),
    (b'{"input": [1, 2], "kernel": [1, 1, 1], "padding": 1, "padding_mode": "reflect", "view": "phase"}', 422,
     "padding_mode='reflect' is shown by the scatter view (its fold step); view 'phase' shows padding_mode='zeros' only"),
    (b'{"input": [1, 1e200], "kernel": [1]}', 422, "input values must lie within +-1e+100"),
    (json.dumps({"input": list(range(65)), "kernel": [1]}).encode(), 422, "at most 64"),
    (json.dumps({"input": [[1] * 8] * 8, "kernel": [[1] * 8] * 8}).encode(), 422, "at most 7 per side"),
    (json.dumps({"input": [1] * 5000, "kernel": [1]}).encode(), 413, "at most 4096"),
    (json.dumps({"input": [[1] * 100] * 100, "kernel": [1]}).encode(), 413, "100x100 entries"),
    (json.dumps({"input": [1, 2], "kernel": [1], "stride": 40}).encode(), 422, "at most 40 cells per side"),
    (b'{"input": [1, 2], "kernel": [1], "view": "matrix", "stride": 1}', 200, None),
    (b"[" * 100000 + b"]" * 100000, 413, "at most"),
    (b"[" * 5000 + b"]" * 5000, 400, "nested"),
    (b'{"input": ' + b"[" * 20 + b"1" + b"]" * 20 + b', "kernel": [1]}', 400, "nested more than 8 levels"),
    (b'{"input": [1], "kernel": [1], "x": ' + b"{\"a\": " * 30 + b"1" + b"}" * 30 + b"}", 400, "nested more than"),
]


@pytest.mark.parametrize("body, status, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_requests_are_4xx_json(client, body, status, message):
    code, data = post(client, body)
    assert code == status, data
    if message is not None:
        assert message in data["error"], data
        assert "Traceback" not in data["error"] and "\n" not in data["error"]


def test_huge_body_is_refused_before_parsing(client):
    body = b'{"input": [' + b"1," * (MAX_BODY_BYTES // 2) + b'1], "kernel": [1]}'
    code, data = post(client, body)
    assert code == 413 and f"at most {MAX_BODY_BYTES}" in data["error"]


def test_other_routes_and_methods_answer_json(client):
    response = client.get("/api/explain")
    assert response.status_code == 405 and "use POST" in response.json()["error"]
    response = client.get("/nowhere")
    assert response.status_code == 404 and response.json() == {"error": "no such page: /nowhere"}
    response = client.get("/static/secret.py")
    assert response.status_code == 404 and "no such asset" in response.json()["error"]
    response = client.get("/static/..%2F..%2Fapi.py")
    assert response.status_code == 404


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5),
    max_leaves=30,
)
fields = st.sampled_from(
    ["input", "kernel", "bias", "stride", "padding", "output_padding", "dilation", "padding_mode", "view", "lang"]
)


@given(body=st.dictionaries(fields, json_values, max_size=9))
def test_any_json_object_gets_200_or_a_4xx_error(client, body):
    code, data = post(client, body)
    assert code == 200 or (400 <= code < 500 and isinstance(data["error"], str) and data["error"]), (code, data)
    if code == 200:
        np.testing.assert_allclose(np.array(data["output"]), expected(body), rtol=1e-9, atol=1e-9)


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("127.5.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("example.org")


# --------------------------------------------------------------------------------------------
# A real uvicorn server: serve command, non-loopback warning, 200 concurrent requests
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_server():
    """``python -m convtranspose serve`` on a free loopback port (stopped at the end)."""
    pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
    with running_server() as url:
        yield url


def _post_json(url: str, body: dict, timeout: float = 30.0) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_load_200_concurrent_requests(live_server):
    url = live_server
    api = url + "api/explain"
    rng = np.random.default_rng(0)
    bodies = []
    for i in range(200):
        shape = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        body = {
            "input": np.round(rng.normal(size=shape), 3).tolist(),
            "kernel": np.round(rng.normal(size=(2, 3)), 3).tolist(),
            "stride": [int(rng.integers(1, 4)), int(rng.integers(1, 4))],
            "view": ["scatter", "conv", "phase", "overlap"][i % 4],
        }
        if i % 10 == 0:
            body["stride"] = 0  # a bad request among the good ones
        bodies.append(body)
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(lambda b: _post_json(api, b, timeout=120), bodies))
    elapsed = time.monotonic() - start
    for body, (status, data) in zip(bodies, answers):
        if body["stride"] == 0:
            assert status == 422 and "stride must be positive" in data["error"]
        else:
            assert status == 200, data
            np.testing.assert_allclose(np.array(data["output"]), expected(body), rtol=1e-9, atol=1e-9)
    assert elapsed < 120, f"200 concurrent requests took {elapsed:.1f} s"
    status, data = _post_json(api, SEED, timeout=10)  # still responsive afterwards
    assert status == 200 and np.allclose(data["output"], expected(SEED))
    print(f"\n200 concurrent API requests answered in {elapsed:.2f} s")


def test_serve_warns_for_a_non_loopback_host():
    pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
    # Binding to an unroutable documentation address fails at once, after the warning is printed.
    result = subprocess.run(
        [sys.executable, "-m", "convtranspose", "serve", "--host", "192.0.2.1", "--port", str(free_port())],
        capture_output=True, text=True, timeout=60,
    )
    assert "warning: --host 192.0.2.1 lets other machines reach this server" in result.stderr
