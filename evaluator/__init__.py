"""The evaluator: realized outcomes of predictions, and live model quality by version.

``volstream evaluate`` reads ``predictions``, waits out each one's horizon,
labels it with the training label's own code (:mod:`volstream.labels`) and
publishes one outcome per prediction to ``outcomes`` (:mod:`volstream.evaluator.stream`),
with each model's realized label, those in shadow included (:mod:`volstream.evaluator.judge`,
:mod:`volstream.evaluator.shadow`);
it counts them in sliding windows of event time (:mod:`volstream.evaluator.quality`) and
exports the windows' quality by model version, variant and role
(:mod:`volstream.evaluator.metrics`). :mod:`volstream.evaluator.main` restores the windows from
``outcomes`` on start-up.
"""
