"""The stores, each behind a small interface named after what it holds, one adapter per engine."""
