"""A valid manifest used by several manifest tests (fixtures, fuzzing)."""

from __future__ import annotations

VALID = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: demo
spec:
  services:
    - name: embedder
      source: ./service.py:Embedder
      scaling: {minReplicas: 1, maxReplicas: 4, targetConcurrency: 4, scaleToZeroAfter: 5m}
      resources: {cpu: 500m, memory: 4Gi, accelerators: "T4:1"}
      env: {LOG_LEVEL: info}
      secretEnv:
        HF_TOKEN: {secret: huggingface, key: token}
    - name: echo
      image: ghcr.io/acme/echo:1.0
  placements:
    - provider: AWS
      region: us-west-2
      type: EKS
      context: prod-eks
      services: [{name: embedder, replicas: 2, weight: 3}, {name: echo}]
    - provider: azure
      region: eastus
      context: prod-aks
      services: [{name: embedder, weight: 1}]
    - provider: local
      region: region-a
  traffic:
    policy: latency
    timeout: 1h30m
    retries: {attempts: 3, perTryTimeout: 250ms, retryOn: "5xx,reset"}
    failover: [AWS/us-west-2, azure/eastus, local/region-a]
    split: {aws/us-west-2: 90, v2: 10}
  state: {url: "postgresql://crosscloud@aurora.example.com:5432/crosscloud"}
  optimizer: {providers: [aws, Google], regions: [us-west-2, gcp/us-central1], spot: true,
              maxHourlyPrice: 2.5, spread: {minClouds: 2}}
"""
