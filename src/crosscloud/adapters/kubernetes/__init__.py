"""Kubernetes targets (EKS, AKS, GKE): the pure renderer and its per-cloud specifics.

`render.render_placement` turns `model.RenderPlacement`, `model.RenderService` and
`model.RenderTraffic` values into Kubernetes and Istio objects; `render.to_yaml` writes them.
"""
