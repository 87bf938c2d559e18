"""volstream: a Kafka stream-processing pipeline that predicts short-horizon volatility spikes.

This shared package holds what more than one service needs: settings, the tick
and prediction contracts, tick sources, Kafka helpers (admin, embedded broker),
metric helpers and the ``volstream`` command line.
"""

from importlib.metadata import version

__version__ = version("volstream")
