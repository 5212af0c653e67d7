"""The data plane: one endpoint for every placement; routing, retries, health, metrics."""
