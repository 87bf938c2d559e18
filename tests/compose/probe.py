"""Run inside a volstream container by the compose test: which ticks have a prediction.

Prints one JSON object: the ticks topic's end offset per partition, the ticks with
no prediction (partition, offset; the first 20), how many, and the duplicates. A canary
marker is covered by its echo on the canary topic instead of a prediction.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from volstream.kafka.admin import describe_topics
from volstream.kafka.clients import make_reader
from volstream.kafka.reading import read_to_end
from volstream.markers import decode_echo
from volstream.predictions import decode_prediction
from volstream.settings import KafkaSettings, load


def main() -> None:
    kafka = load(KafkaSettings)
    ticks, predictions, canary = describe_topics(
        kafka, [kafka.ticks_topic, kafka.predictions_topic, kafka.canary_topic]
    )
    starts = {p.partition: p.low for p in predictions.partitions}
    predicted: Counter[tuple[int, int]] = Counter()
    for batch in read_to_end(make_reader(kafka, "compose-test"), predictions.name, starts, 10):
        for message in batch:
            prediction = decode_prediction(message.value() or b"")
            predicted[prediction.source_partition, prediction.source_offset] += 1
    echoed = set()
    starts = {p.partition: p.low for p in canary.partitions}
    for batch in read_to_end(make_reader(kafka, "compose-test"), canary.name, starts, 10):
        for message in batch:
            echo = decode_echo(message.value() or b"")
            echoed.add((echo.source_partition, echo.source_offset))
    missing = [
        (p.partition, offset)
        for p in ticks.partitions
        for offset in range(p.low, p.high)
        if (p.partition, offset) not in predicted and (p.partition, offset) not in echoed
    ]
    sys.stdout.write(json.dumps({
        "ends": {p.partition: p.high for p in ticks.partitions},
        "predictions": sum(predicted.values()),
        "missing": len(missing),
        "first_missing": missing[:20],
        "duplicates": sum(predicted.values()) - len(predicted),
    }) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
