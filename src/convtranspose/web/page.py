"""The explainer page: the packaged ES module and stylesheet with an explanation embedded as JSON.

Served at ``/`` by :mod:`.server` (assets as separate files, the page asks the API for new
settings), or written as one self-contained file by ``convtranspose explain --format html``,
where the JS and CSS are inline and the explanation is embedded for both languages and all five
views (no server: the settings are those of the export, steps, views and language still change).

Examples
--------
>>> from convtranspose.explain import explain
>>> html = render_page(explain([1.0, 2.0], [1.0, 1.0], stride=2))
>>> html.startswith("<!DOCTYPE html>"), "http://" in html or "https://" in html
(True, False)
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any, Optional

from ..i18n import LANGUAGES, ui_strings
from .api import PRESETS, VIEWS, ExplainRequest, explain_payload

__all__ = ["ASSETS", "asset_text", "render_page", "notebook_html", "export_data"]

#: Files of ``static/`` the server may send.
ASSETS = ("app.js", "style.css")


def asset_text(name: str) -> str:
    """The text of one packaged asset."""
    return resources.files(__package__).joinpath("static").joinpath(name).read_text(encoding="utf-8")


def _request_of(explanation: Any, view: str, lang: str) -> ExplainRequest:
    problem = explanation.problem
    return ExplainRequest(
        input=problem.input.tolist(),
        kernel=problem.kernel.tolist(),
        bias=problem.bias,
        stride=problem.stride,
        padding=problem.padding,
        output_padding=problem.output_padding,
        dilation=problem.dilation,
        padding_mode=problem.padding_mode,
        view=view,
        lang=lang,
    )


_BASE_ONLY = ("view_data", "text", "view")


def export_data(explanation: Any) -> dict:
    """Every payload the offline page needs: per language the scatter payload, and per view its grids.

    ``{"en": {"base": payload, "views": {"conv": {"view_data":..., "text":...}, ...}}, "zh": ...}``
    """
    data: dict[str, Any] = {}
    for lang in LANGUAGES:
        base = explain_payload(_request_of(explanation, "scatter", lang))
        views = {"scatter": {key: base[key] for key in _BASE_ONLY}}
        # A padding mode is shown by the scatter view only (the page disables the others).
        for view in VIEWS[1:] if explanation.problem.padding_mode == "zeros" else ():
            payload = explain_payload(_request_of(explanation, view, lang))
            views[view] = {key: payload[key] for key in _BASE_ONLY}
        data[lang] = {"base": base, "views": views}
    return data


def _json_script(element_id: str, value: object) -> str:
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    # Inside <script>, only "</" can end the element early; JSON allows "<\/".
    text = text.replace("</", "<\\/").replace("<!--", "<\\!--")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def render_page(explanation: Optional[Any] = None, lang: str = "en", served: bool = False, initial_view: str = "scatter") -> str:
    """The page as HTML text.

    Parameters
    ----------
    explanation : an object returned by ``explain()``, optional
        Embedded (offline mode). None: the seed example, and the page asks the server for changes.
    lang : {"en", "zh"}
        The language the page opens in.
    served : bool
        True: link ``/static/app.js`` and ``/static/style.css`` and use ``/api/explain``.
        False: one self-contained file (inline assets, no network at all).
    """
    preset = "custom"
    if explanation is None:
        from ..explain import explain

        explanation = explain(PRESETS[0]["input"], PRESETS[0]["kernel"])
        preset = str(PRESETS[0]["id"])
    if served:
        data = {lang: {"base": explain_payload(_request_of(explanation, "scatter", lang)), "views": {}}}
        head = '<link rel="stylesheet" href="/static/style.css">'
        script = '<script type="module" src="/static/app.js"></script>'
    else:
        data = export_data(explanation)
        head = f"<style>\n{asset_text('style.css')}\n</style>"
        script = f'<script type="module">\n{asset_text("app.js")}\n</script>'
    config = {
        "mode": "server" if served else "static",
        "lang": lang,
        "view": initial_view,
        "preset": preset,
        "presets": list(PRESETS),
        "ui": {code: ui_strings(code) for code in LANGUAGES},
    }
    return f"""<!DOCTYPE html>
<html lang="{'zh-Hans' if lang == 'zh' else 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ConvTranspose explainer</title>
<link rel="icon" href="data:,">
{head}
</head>
<body>
<noscript>This page needs JavaScript. The command line explains the same numbers: convtranspose explain</noscript>
<div id="app" aria-live="off"></div>
{_json_script("ct-config", config)}
{_json_script("ct-data", data)}
{script}
</body>
</html>
"""


def notebook_html(explanation: Any, height: int = 760) -> str:
    """The offline page inside an ``<iframe srcdoc>``, for Jupyter's ``_repr_html_``."""
    page = render_page(explanation, served=False)
    return (
        f'<iframe srcdoc="{html.escape(page, quote=True)}" title="convtranspose explainer" '
        f'style="width:100%;height:{height}px;border:1px solid #ccc;border-radius:6px"></iframe>'
    )
