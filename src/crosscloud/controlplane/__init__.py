"""The control loop: observe -> plan -> act, and its HTTP API for the CLI."""
