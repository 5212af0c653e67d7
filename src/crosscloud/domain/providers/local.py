"""The embedded local target: replicas are processes on this machine, and its regions are
names the user makes up (`region-a`) to rehearse multi-cloud behaviour on one machine."""

from __future__ import annotations

from crosscloud.domain.providers import model

LOCAL = model.Provider(name="local", cluster_type="Local", label="a local")
