"""The prediction API: on-demand predictions, the latest ones from the stream, model admin.

:mod:`volstream.api.main` starts the server, :mod:`volstream.api.app` builds the FastAPI
app, and :mod:`volstream.api.hot` answers the busiest routes before FastAPI does.
"""
