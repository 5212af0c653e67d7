"""Pure data: the manifest model, resources, observed state and actions. No I/O here."""
