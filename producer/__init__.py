"""The market-data producer: reads a tick source and publishes canonical ticks to Kafka."""
