"""What every group member with per-partition state does when partitions go."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

from confluent_kafka import Consumer, TopicPartition

__all__ = ["PartitionOwner"]

log = logging.getLogger(__name__)


class PartitionOwner(ABC):
    """A group member that keeps state per owned partition (the consumer, the evaluator).

    A revoked partition is settled and committed first (``_on_revoke``, the
    subclass's), a lost one only dropped: another member may own it already.
    """

    @abstractmethod
    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None: ...

    @abstractmethod
    def _drop(self, partitions: list[int]) -> None:
        """Forget the state of ``partitions``."""

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = [tp.partition for tp in partitions]
        self._drop(lost)
        log.warning("lost partitions %s (another member may own them now)", sorted(lost))
