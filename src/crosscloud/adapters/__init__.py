"""All I/O to the outside world: processes, clusters, clouds, the state store, images."""
