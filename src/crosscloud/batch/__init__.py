"""Batch inference: run any endpoint over a dataset (Spark, or in-process for small jobs)."""
