"""Amazon Web Services: EKS clusters, Karpenter's GPU node labels, the AWS Load Balancer
Controller's NLB annotations, ECR registries (`<account>.dkr.ecr.<region>.amazonaws.com/
<repository>`) and the regions."""

from __future__ import annotations

import re
from types import MappingProxyType

from crosscloud.domain.providers import model

_REGIONS: model.Places = {
    "us-east-1": ("virginia", "us-east"),
    "us-east-2": ("ohio", "us-east"),
    "us-west-1": ("california", "us-west"),
    "us-west-2": ("oregon", "us-west"),
    "ca-central-1": ("montreal", "canada"),
    "ca-west-1": ("calgary", "canada"),
    "mx-central-1": ("queretaro", "mexico"),
    "sa-east-1": ("sao-paulo", "south-america"),
    "eu-west-1": ("ireland", "europe-west"),
    "eu-west-2": ("london", "europe-west"),
    "eu-west-3": ("paris", "europe-west"),
    "eu-central-1": ("frankfurt", "europe-central"),
    "eu-central-2": ("zurich", "europe-central"),
    "eu-north-1": ("stockholm", "europe-north"),
    "eu-south-1": ("milan", "europe-south"),
    "eu-south-2": ("spain", "europe-south"),
    "ap-northeast-1": ("tokyo", "asia-northeast"),
    "ap-northeast-2": ("seoul", "asia-northeast"),
    "ap-northeast-3": ("osaka", "asia-northeast"),
    "ap-southeast-1": ("singapore", "asia-southeast"),
    "ap-southeast-2": ("sydney", "australia"),
    "ap-southeast-3": ("jakarta", "asia-southeast"),
    "ap-southeast-4": ("melbourne", "australia"),
    "ap-south-1": ("mumbai", "india"),
    "ap-south-2": ("hyderabad", "india"),
    "ap-east-1": ("hong-kong", "asia-east"),
    "me-south-1": ("bahrain", "middle-east"),
    "me-central-1": ("uae", "middle-east"),
    "il-central-1": ("tel-aviv", "middle-east"),
    "af-south-1": ("cape-town", "africa"),
}

_ECR_HOST = re.compile(r"^(\d+)\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_ACCOUNT = re.compile(r"^\d{12}$")
_AWS_REGION = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d$")
_LB = "service.beta.kubernetes.io/aws-load-balancer-"


def ecr(account: str, region: str, repository: str) -> str:
    """The Amazon ECR address of a repository."""
    model.require(_ACCOUNT, account, "account", "an AWS account id is 12 digits")
    model.require(_AWS_REGION, region, "region", "an AWS region looks like us-west-2")
    model.require(model.REPO_PATH, repository, "repository", "lowercase words joined by . _ - or /")
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}"


def _check_ecr(host: re.Match[str], path: str) -> None:
    ecr(host.group(1), host.group(2), path or "x")


#: Karpenter's lowercase GPU names for the accelerators sold on AWS.
_GPUS = {
    "T4": "t4",
    "L4": "l4",
    "L40S": "l40s",
    "A10G": "a10g",
    "V100": "v100",
    "A100": "a100",
    "A100-80GB": "a100",
    "H100": "h100",
    "H100-80GB": "h100",
    "H200": "h200",
    "B200": "b200",
}

AWS = model.Provider(
    name="aws",
    cluster_type="EKS",
    label="an AWS",
    spellings=("AWS",),
    regions=MappingProxyType(_REGIONS),
    kubernetes=model.Kubernetes(
        credentials="aws eks update-kubeconfig --name <cluster> --region {region}",
        gpu_label="karpenter.k8s.aws/instance-gpu-name",
        gpus=MappingProxyType({name: model.Gpu(label) for name, label in _GPUS.items()}),
        # Read by the AWS Load Balancer Controller: an NLB sending straight to pod IPs.
        load_balancer=MappingProxyType(
            {
                f"{_LB}type": "external",
                f"{_LB}nlb-target-type": "ip",
                f"{_LB}scheme": "internet-facing",
                f"{_LB}healthcheck-protocol": "http",
                f"{_LB}healthcheck-path": "{health_path}",
            }
        ),
        registry=model.Registry("ecr", _ECR_HOST, _check_ecr),
        # Without a priced instance type, any Karpenter node with this GPU will do.
        gpu_label_with_instance_type=False,
        # EKS managed node groups label their nodes with the capacity type; the AWS Node
        # Termination Handler taints a node on a spot interruption notice, Karpenter on
        # disruption.
        spot_label=("eks.amazonaws.com/capacityType", "SPOT"),
        spot_notice_taints=("aws-node-termination-handler/spot-itn", "karpenter.sh/disrupted"),
    ),
)
