"""Raw-socket HTTP/1.x conformance cases, run against crosscloud's gateway and nginx."""
