"""The public HTTP API: FastAPI routers (one per endpoint), its guarantees, its models."""
