"""The service's rules: what the endpoints and consumers do, over the stores' interfaces."""
