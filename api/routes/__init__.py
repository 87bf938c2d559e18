"""The API's routes by concern; :func:`volstream.api.app.create_app` includes them all."""

from volstream.api.routes import admin, drift, predictions, service, stats

__all__ = ["ROUTERS"]

ROUTERS = (predictions.router, service.router, stats.router, admin.router, drift.router)
