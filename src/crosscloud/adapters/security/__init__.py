"""Security adapters: the deployment's certificate authority (ca.py), certificate files
on disk (files.py) and TLS contexts built from them (tls.py)."""
