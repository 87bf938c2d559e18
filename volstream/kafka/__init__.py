"""Thin helpers over confluent-kafka: admin tasks, client logging and the embedded broker."""
