"""The canary: marker ticks through the whole pipeline, and their round trip.

:mod:`volstream.canary.main` sends one marker per ticks partition every few seconds
and reads the consumer's echoes back; :mod:`volstream.canary.metrics` exports the
round trip and the markers sent, received and lost. The contract is
:mod:`volstream.markers`; ``docs/canary.md`` explains the design.
"""
