"""What `up` renders for cluster placements, and what it refuses before storing anything."""

from __future__ import annotations

import pytest

from crosscloud import errors
from crosscloud.controlplane import cluster_objects
from crosscloud.domain import manifest

HEAD = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: shop}
spec:
"""
TWO_CLOUDS = (
    HEAD
    + """\
  services:
    - name: embed
      image: registry.example.com/embed:cc-1
      resources: {accelerators: "T4:1"}
      scaling: {minReplicas: 1, maxReplicas: 8, targetConcurrency: 4}
    - name: web
      source: service.py:Web
  placements:
    - {provider: aws, region: us-west-2, context: prod-eks, services: [{name: embed, replicas: 2}]}
    - {provider: gcp, region: us-central1, context: prod-gke, services: [{name: embed}]}
    - {provider: local, region: a, services: [{name: web}]}
"""
)


def load(text: str) -> manifest.Manifest:
    return manifest.load_manifest(text, "crosscloud.yaml")


def test_each_cluster_placement_gets_its_count_and_no_autoscaler() -> None:
    spec = load(TWO_CLOUDS)
    found = cluster_objects.desired(spec, version=1, overrides={"embed@gcp/us-central1": 3})
    assert [(d.placement, dict(d.counts)) for d in found] == [
        ("aws/us-west-2", {"embed": 2}),
        ("gcp/us-central1", {"embed": 3}),
    ]
    for d in found:
        kinds = [o["kind"] for o in d.objects]
        # the Secret: the pods' certificate for mutual TLS (on by default)
        assert kinds == ["Namespace", "Secret", "Deployment", "Service", "PodDisruptionBudget"]
        deployment = d.objects[2]
        assert deployment["spec"]["replicas"] == d.counts["embed"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "registry.example.com/embed:cc-1"
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    again = cluster_objects.desired(spec, version=2, overrides={"embed@gcp/us-central1": 3})
    assert [d.digest for d in again] == [d.digest for d in found]  # same objects: no apply
    fewer = cluster_objects.desired(spec, version=1, overrides={})
    assert fewer[1].digest != found[1].digest and fewer[0].digest == found[0].digest


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            """\
  services: [{name: web, source: service.py:Web}]
  placements: [{provider: azure, region: eastus, context: prod-aks}]
""",
            "service 'web' runs from source 'service.py:Web', but azure/eastus (AKS) runs"
            " container images: build and push it with `crosscloud build service.py:Web"
            " --tag web --push --registry REGISTRY`",
        ),
        (
            """\
  services: [{name: web, image: web:1}]
  placements: [{provider: gcp, context: prod-gke}]
""",
            "spec.placements[0] (GKE, context 'prod-gke') has no region",
        ),
        (
            """\
  services: [{name: web, image: web:1, env: {HF_TOKEN: abc}}]
  placements: [{provider: aws, region: us-west-2, context: prod-eks}]
""",
            "env HF_TOKEN looks like a credential",
        ),
    ],
)
def test_refused_before_anything_is_stored(body: str, message: str) -> None:
    with pytest.raises(errors.UserError) as caught:
        cluster_objects.check(load(HEAD + body), "crosscloud.yaml")
    assert message in str(caught.value)


def test_local_and_image_services_side_by_side_pass() -> None:
    cluster_objects.check(load(TWO_CLOUDS), "crosscloud.yaml")
