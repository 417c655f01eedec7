"""Typed client of the Recommendation API.

from recsys_client import RecsysClient, RecsysError

with RecsysClient("http://127.0.0.1:3000", api_key) as client:
    for item in client.get_recommendations("user_123", limit=10).recommendations:
        print(item.rank, item.item_id, item.metadata.title)
"""

from __future__ import annotations

__version__ = "0.1.0"

from recsys_client import models
from recsys_client.batch import BatchSummary, EventOutcome
from recsys_client.client import DEFAULT_BASE_URL, RecsysClient
from recsys_client.errors import RecsysError
from recsys_client.retry import NO_RETRY, RetryPolicy
from recsys_client.transport import RawResponse

__all__ = [
    "DEFAULT_BASE_URL",
    "NO_RETRY",
    "BatchSummary",
    "EventOutcome",
    "RawResponse",
    "RecsysClient",
    "RecsysError",
    "RetryPolicy",
    "__version__",
    "models",
]
