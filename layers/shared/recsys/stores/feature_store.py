"""Real-time user and item features (Redis hashes, spec: `user_features:{user_id}`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import redis

FeatureValue = str | int | float


class FeatureStore(Protocol):
    def put_user_features(
        self, user_id: str, features: Mapping[str, FeatureValue], ttl_seconds: int
    ) -> None: ...
    def get_user_features(self, user_id: str) -> dict[str, str]: ...


class RedisFeatureStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @staticmethod
    def user_key(user_id: str) -> str:
        return f"user_features:{user_id}"

    def put_user_features(self, user_id: str, features: Mapping[str, FeatureValue], ttl_seconds: int) -> None:
        """Merge `features` into the user's hash and (re)start its time to live."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        key = self.user_key(user_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=dict(features))
            pipe.expire(key, ttl_seconds)
            pipe.execute()

    def get_user_features(self, user_id: str) -> dict[str, str]:
        raw: dict[bytes, bytes] = self._redis.hgetall(self.user_key(user_id))  # type: ignore[assignment]
        return {k.decode(): v.decode() for k, v in raw.items()}
