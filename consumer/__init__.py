"""The stream consumer: ticks in, rolling features, model scores, predictions out.

:mod:`volstream.consumer.main` builds the service (settings, metrics, clients, model),
:mod:`volstream.consumer.stream` runs the loop and owns the offsets,
:mod:`volstream.consumer.pipeline` holds the array steps of one batch,
:mod:`volstream.consumer.rebuild` refills the feature windows after a rebalance, and
:mod:`volstream.consumer.lag` and :mod:`volstream.consumer.metrics` export lag and timings.
"""
