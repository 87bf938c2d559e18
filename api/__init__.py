"""The prediction API: on-demand predictions, the latest ones from the stream, model admin.

:mod:`volstream.api.main` starts the server and :mod:`volstream.api.app` builds the
app: routes by concern in :mod:`volstream.api.routes`, their dependencies in
:mod:`volstream.api.deps`, bodies in :mod:`volstream.api.schemas`, error answers in
:mod:`volstream.api.errors`. :mod:`volstream.api.hot` answers the busiest routes
before FastAPI does, with the same :mod:`volstream.api.service`.
"""
