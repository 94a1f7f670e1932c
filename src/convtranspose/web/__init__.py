"""The interactive explainer in a web browser: ``convtranspose serve`` and ``explain --format html``.

* :mod:`.api` -- the JSON API (request parsing, the response built from the trace model); needs
  nothing but the library.
* :mod:`.page` -- the page (``static/``: plain ES module, CSS, no network) with an explanation
  embedded, as served at ``/`` or written as one self-contained HTML file.
* :mod:`.server` -- the Starlette application and ``serve()`` (needs the ``web`` extra:
  ``pip install 'convtranspose[web]'``).

The page never computes a convolution: every number it shows comes from :mod:`.api`.
"""
