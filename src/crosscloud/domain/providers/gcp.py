"""Google Cloud: GKE clusters, GKE's accelerator node label, the backend-service-based
passthrough Network Load Balancer, Artifact Registry (`<location>-docker.pkg.dev/<project>/
<repository>`) and the regions."""

from __future__ import annotations

import re
from types import MappingProxyType

from crosscloud import errors
from crosscloud.domain.providers import model

_REGIONS: model.Places = {
    "us-central1": ("iowa", "us-central"),
    "us-east1": ("south-carolina", "us-east"),
    "us-east4": ("virginia", "us-east"),
    "us-east5": ("ohio", "us-east"),
    "us-south1": ("texas", "us-central"),
    "us-west1": ("oregon", "us-west"),
    "us-west2": ("california", "us-west"),
    "us-west3": ("utah", "us-west"),
    "us-west4": ("nevada", "us-west"),
    "northamerica-northeast1": ("montreal", "canada"),
    "northamerica-northeast2": ("toronto", "canada"),
    "northamerica-south1": ("queretaro", "mexico"),
    "southamerica-east1": ("sao-paulo", "south-america"),
    "europe-west1": ("belgium", "europe-west"),
    "europe-west2": ("london", "europe-west"),
    "europe-west3": ("frankfurt", "europe-central"),
    "europe-west4": ("netherlands", "europe-west"),
    "europe-west6": ("zurich", "europe-central"),
    "europe-west8": ("milan", "europe-south"),
    "europe-west9": ("paris", "europe-west"),
    "europe-southwest1": ("spain", "europe-south"),
    "europe-central2": ("warsaw", "europe-central"),
    "europe-north1": ("finland", "europe-north"),
    "asia-northeast1": ("tokyo", "asia-northeast"),
    "asia-northeast2": ("osaka", "asia-northeast"),
    "asia-northeast3": ("seoul", "asia-northeast"),
    "asia-southeast1": ("singapore", "asia-southeast"),
    "asia-southeast2": ("jakarta", "asia-southeast"),
    "asia-east1": ("taiwan", "asia-east"),
    "asia-east2": ("hong-kong", "asia-east"),
    "asia-south1": ("mumbai", "india"),
    "asia-south2": ("delhi", "india"),
    "australia-southeast1": ("sydney", "australia"),
    "australia-southeast2": ("melbourne", "australia"),
    "me-west1": ("tel-aviv", "middle-east"),
    "me-central1": ("doha", "middle-east"),
    "africa-south1": ("johannesburg", "africa"),
}

_AR_HOST = re.compile(r"^([a-z0-9-]+)-docker\.pkg\.dev$")
_AR_LOCATION = re.compile(r"^[a-z]+(?:-[a-z]+\d*)?$")
_GCP_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_AR_REPO = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")


def artifact_registry(location: str, project: str, repository: str, image: str = "") -> str:
    """The Google Artifact Registry address of a Docker repository (and image)."""
    model.require(_AR_LOCATION, location, "location", "a region like us-central1 or `us`")
    model.require(_GCP_PROJECT, project, "project", "a GCP project id (6-30 chars, a-z 0-9 -)")
    model.require(_AR_REPO, repository, "repository", "lowercase letters, digits and '-'")
    base = f"{location}-docker.pkg.dev/{project}/{repository}"
    if image:
        model.require(model.REPO_PATH, image, "image", "lowercase words joined by . _ - or /")
        return f"{base}/{image}"
    return base


def _check_artifact_registry(host: re.Match[str], path: str) -> None:
    project, _, rest = path.partition("/")
    repository = rest.partition("/")[0]
    if not repository:
        raise errors.UserError(
            f"registry {'/'.join(filter(None, (host.string, path)))!r}: Artifact Registry"
            " addresses are <location>-docker.pkg.dev/<project>/<repository>"
        )
    artifact_registry(host.group(1), project, repository)


#: GKE's accelerator label values.
_GPUS = {
    "T4": "nvidia-tesla-t4",
    "L4": "nvidia-l4",
    "V100": "nvidia-tesla-v100",
    "A100": "nvidia-tesla-a100",
    "A100-80GB": "nvidia-a100-80gb",
    "H100": "nvidia-h100-80gb",
    "H100-80GB": "nvidia-h100-80gb",
    "H200": "nvidia-h200-141gb",
    "B200": "nvidia-b200",
}

GCP = model.Provider(
    name="gcp",
    cluster_type="GKE",
    label="a GCP",
    spellings=("Google", "GCP", "GCE"),
    regions=MappingProxyType(_REGIONS),
    kubernetes=model.Kubernetes(
        credentials="gcloud container clusters get-credentials <cluster> --location {region}",
        gpu_label="cloud.google.com/gke-accelerator",
        gpus=MappingProxyType({name: model.Gpu(label) for name, label in _GPUS.items()}),
        # A backend-service-based external passthrough Network Load Balancer.
        load_balancer=MappingProxyType({"cloud.google.com/l4-rbs": "enabled"}),
        registry=model.Registry("artifact-registry", _AR_HOST, _check_artifact_registry),
        # GKE labels Spot VM nodes; the taint is the documented way to keep other pods off
        # a spot pool, and GKE taints a node it is about to shut down.
        spot_label=("cloud.google.com/gke-spot", "true"),
        spot_taint=("cloud.google.com/gke-spot", "true"),
        spot_notice_taints=("cloud.google.com/impending-node-termination",),
    ),
)
