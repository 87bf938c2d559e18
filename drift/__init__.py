"""The scheduled drift job: Evidently data drift of live features against the training reference.

``volstream drift`` reads the current window from the ``predictions`` topic
(:mod:`drift.window`), compares it with the serving model's reference sample
(:mod:`drift.check`), publishes gauges (:mod:`drift.metrics`) and writes HTML
and JSON reports (:mod:`drift.reports`); :mod:`drift.main` schedules the passes.
"""
