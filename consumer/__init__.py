"""The stream consumer: features, inference and predictions with lag metrics (being built)."""
