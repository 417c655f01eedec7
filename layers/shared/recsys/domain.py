"""The service's vocabulary: interactions and their weights, catalog entries."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# Implicit-feedback weight of each action type (spec: "Action Types").
ACTION_WEIGHTS: dict[str, float] = {
    "impression": 0.1,
    "click": 1.0,
    "add_to_cart": 2.0,
    "purchase": 5.0,
    "watch": 3.0,
    "like": 2.0,
    "dislike": -3.0,
}


def fallback_event_id(user_id: str, item_id: str, action: str, timestamp: datetime) -> str:
    """Server-side event id when the client sends no X-Event-ID (spec: sha256 of the request)."""
    digest = hashlib.sha256(f"{user_id}{item_id}{action}{timestamp.isoformat()}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Interaction:
    event_id: str
    user_id: str
    item_id: str
    action: str
    event_time: datetime
    context: dict[str, str] = field(default_factory=dict)
    session_id: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTION_WEIGHTS:
            raise ValueError(f"unknown action {self.action!r}")
        if self.event_time.tzinfo is None:
            raise ValueError("event_time must be timezone-aware")

    @property
    def weight(self) -> float:
        return ACTION_WEIGHTS[self.action]

    def to_record(self) -> dict[str, Any]:
        """The JSON form carried on the interaction stream."""
        return {
            "event_id": self.event_id,
            "user_id": self.user_id,
            "item_id": self.item_id,
            "action": self.action,
            "event_time": self.event_time.astimezone(UTC).isoformat(),
            "context": self.context,
            "session_id": self.session_id,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Interaction:
        return cls(
            event_id=record["event_id"],
            user_id=record["user_id"],
            item_id=record["item_id"],
            action=record["action"],
            event_time=datetime.fromisoformat(record["event_time"]),
            context=dict(record.get("context") or {}),
            session_id=record.get("session_id"),
        )


@dataclass(frozen=True)
class Item:
    item_id: str
    title: str
    description: str | None = None
    category: str | None = None
    subcategory: str | None = None
    tags: tuple[str, ...] = ()
    content_features: dict[str, Any] = field(default_factory=dict)
    thumbnail_url: str | None = None
    avg_rating: Decimal | None = None
    interaction_count: int = 0
    is_active: bool = True
    created_at: datetime | None = None


@dataclass(frozen=True)
class User:
    user_id: str
    preferred_categories: tuple[str, ...] = ()
    language: str | None = None
    country: str | None = None
    engagement_level: str | None = None
    total_interactions: int = 0
    is_new_user: bool = True
    created_at: datetime | None = None
