"""The replica process: a lean ASGI app built from a ServiceDefinition, served by uvicorn."""
