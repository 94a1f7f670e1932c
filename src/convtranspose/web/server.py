"""The local web server: the page at ``/`` and the JSON API at ``/api/explain`` (Starlette + uvicorn).

Needs the ``web`` extra (``pip install 'convtranspose[web]'``). The page and its assets are served
from the package; nothing is fetched from elsewhere. Every error is a JSON answer ``{"error": ...}``
with a 4xx status.

Examples
--------
>>> from starlette.testclient import TestClient
>>> client = TestClient(create_app())
>>> client.post("/api/explain", json={"input": [1, 2], "kernel": [1, 1]}).json()["output"]
[1.0, 3.0, 2.0]
>>> client.get("/api/nothing").json()
{'error': 'no such page: /api/nothing'}
"""

from __future__ import annotations

import ipaddress
import sys
import threading
import webbrowser
from typing import Optional, TextIO

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .api import MAX_BODY_BYTES, RequestError, error_payload, respond
from .page import ASSETS, asset_text, render_page

__all__ = ["create_app", "serve", "is_loopback"]

#: Content-Security-Policy of every page: nothing may be loaded from or sent to another origin.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


async def _read_body(request: Request) -> bytes:
    """The body, refusing (413) more than MAX_BODY_BYTES without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestError(f"the body has {declared} bytes; at most {MAX_BODY_BYTES} are accepted", status=413)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestError(f"the body has more than {MAX_BODY_BYTES} bytes; at most {MAX_BODY_BYTES} are accepted", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


async def explain_endpoint(request: Request) -> JSONResponse:
    try:
        body = await _read_body(request)
    except RequestError as exc:
        return JSONResponse(error_payload(str(exc)), status_code=exc.status)
    # The computation is small (capped by the explainer) but CPU-bound: run it off the event loop.
    from starlette.concurrency import run_in_threadpool

    status, payload = await run_in_threadpool(respond, body)
    return JSONResponse(payload, status_code=status)


async def index(request: Request) -> HTMLResponse:
    lang = request.query_params.get("lang", "en")
    if lang not in ("en", "zh"):
        lang = "en"
    return HTMLResponse(render_page(None, lang=lang, served=True), headers=_HEADERS)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return JSONResponse({"error": f"no such asset: {name}"}, status_code=404)
    suffix = name[name.rfind("."):]
    return Response(asset_text(name), media_type=_TYPES.get(suffix, "text/plain"), headers=_HEADERS)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 400)
    if status == 404:
        message = f"no such page: {request.url.path}"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}; use POST for /api/explain and GET for pages"
    else:
        message = str(getattr(exc, "detail", "")) or "bad request"
    return JSONResponse({"error": message}, status_code=status if 400 <= status < 500 else 400)


def create_app() -> Starlette:
    """The Starlette application (routes ``/``, ``/static/{name}``, ``POST /api/explain``)."""
    return Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/static/{name}", asset, methods=["GET"]),
            Route("/api/explain", explain_endpoint, methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warm_up() -> None:
    """Compile/load the engine's paths once (numba's first call takes seconds), off the request path."""
    body = b'{"input": [[1, 2, 3, 4, 5, 6, 7, 8]], "kernel": [[1, 2, 3, 4, 5, 6, 7]], "stride": 4}'
    for lines in (1, 8):
        respond(body.replace(b"[[1, 2, 3, 4, 5, 6, 7, 8]]", b"[" + b", ".join([b"[1, 2, 3, 4, 5, 6, 7, 8]"] * lines) + b"]"))


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = False, out: Optional[TextIO] = None) -> int:
    """Run the server until interrupted (Ctrl-C); returns the exit status."""
    import uvicorn

    out = out or sys.stdout
    if not is_loopback(host):
        sys.stderr.write(
            f"warning: --host {host} lets other machines reach this server (it has no authentication); "
            "use the default 127.0.0.1 unless you mean to share it\n"
        )
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    out.write(f"convtranspose explainer on {url}  (Ctrl-C stops it)\n")
    out.flush()
    if open_browser:
        webbrowser.open(url)
    threading.Thread(target=_warm_up, name="convtranspose-warm-up", daemon=True).start()
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
    return 0
