"""Images: the build context, the container engines, lock files, the reproducible wheel,
and building once per content."""
