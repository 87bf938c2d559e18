"""Alert rules judged by promtool on series recorded from a real run.

A :class:`SeriesRecorder` samples a registry the way Prometheus scrapes it;
:func:`check_alert` hands those samples to ``promtool test rules`` and checks
when an alert fires. Each sample stands for one promtool ``interval``: a run of
a minute sampled every second can play an hour, which keeps every ratio of the
run (rates of errors over rates of events) and stretches its time.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from volstream.testing.programs import program

__all__ = ["SeriesRecorder", "check_alert"]

Labels = tuple[tuple[str, str], ...]


class SeriesRecorder:
    """Samples of the series named ``names`` of ``registry``, one column per :meth:`sample`."""

    def __init__(self, registry: CollectorRegistry, names: set[str]) -> None:
        self.registry, self.names = registry, names
        self.samples = 0
        self._values: dict[tuple[str, Labels], list[str]] = {}

    def sample(self) -> None:
        """Take one sample of every series, as a scrape would."""
        for family in self.registry.collect():
            for found in family.samples:
                if found.name in self.names:
                    key = (found.name, tuple(sorted(found.labels.items())))
                    column = self._values.setdefault(key, ["_"] * self.samples)  # "_": no sample
                    column.append(repr(float(found.value)))
        self.samples += 1
        for column in self._values.values():
            column.extend(["_"] * (self.samples - len(column)))

    def input_series(self, extra: Mapping[str, str] | None = None) -> list[dict[str, str]]:
        """promtool's ``input_series``, each series with the ``extra`` labels (e.g. its job)."""
        series = []
        for (name, labels), values in sorted(self._values.items()):
            pairs = sorted({**dict(labels), **(extra or {})}.items())
            text = ",".join(f'{k}="{v}"' for k, v in pairs)
            series.append({"series": f"{name}{{{text}}}", "values": " ".join(values)})
        return series


def check_alert(
    rule_files: Sequence[Path],
    series: list[dict[str, str]],
    alert: str,
    firing: Mapping[int, bool],
    interval: str = "1m",
) -> None:
    """Assert, by promtool, whether ``alert`` fires after each number of samples in ``firing``
    (sample index -> expected); AssertionError with promtool's words otherwise."""
    unit = interval[-1]
    count = f'count(ALERTS{{alertname="{alert}",alertstate="firing"}}) or vector(0)'
    checks = [
        {"expr": count, "eval_time": f"{int(interval[:-1]) * index}{unit}",
         "exp_samples": [{"labels": "{}", "value": int(fires)}]}
        for index, fires in sorted(firing.items())
    ]  # fmt: skip
    test = {
        "rule_files": [str(p.resolve()) for p in rule_files],
        "evaluation_interval": interval,
        "tests": [{"interval": interval, "input_series": series, "promql_expr_test": checks}],
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "alert.test.yml"
        path.write_text(yaml.safe_dump(test))
        result = subprocess.run([program("promtool"), "test", "rules", str(path)],  # noqa: S603
                                capture_output=True, text=True, timeout=60)  # fmt: skip
    if result.returncode != 0:
        msg = f"{alert} against {dict(firing)}:\n{result.stdout}{result.stderr}"
        raise AssertionError(msg)
