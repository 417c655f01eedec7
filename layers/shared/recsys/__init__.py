"""Code shared by every function of the recommendation service (the Lambda layer)."""
