"""The scheduled drift job: Evidently data drift of live features against the training reference.

``volstream drift`` reads the current window from the ``predictions`` topic
(:mod:`volstream.drift.window`), compares it with the serving model's reference sample
(:mod:`volstream.drift.check`), publishes gauges (:mod:`volstream.drift.metrics`) and writes HTML
and JSON reports (:mod:`volstream.drift.reports`); :mod:`volstream.drift.main` schedules the passes.
"""
