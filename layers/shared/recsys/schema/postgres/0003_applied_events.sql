-- Events whose counters (items.interaction_count, users.total_interactions) have been applied:
-- marked in the same transaction as the counters, so a redelivered event counts once.
CREATE TABLE applied_events (
    event_id VARCHAR(255) PRIMARY KEY,
    applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_applied_events_age ON applied_events(applied_at);
