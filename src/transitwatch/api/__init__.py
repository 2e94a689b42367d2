"""HTTP API and web dashboard over a transitwatch database (FastAPI; read-only).

:func:`~transitwatch.api.app.create_app` builds the application; ``transitwatch serve --db PATH``
runs it with uvicorn on 127.0.0.1:8047. The dashboard (``static/``) is plain HTML/JS with the
uPlot chart library vendored, so it works offline.
"""
