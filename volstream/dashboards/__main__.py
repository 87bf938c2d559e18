"""``python -m volstream.dashboards`` (``make dashboards``): rewrite the dashboard files."""

from volstream.dashboards import write_all

write_all()
