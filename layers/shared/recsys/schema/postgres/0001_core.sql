-- Users, catalog and the API's own tables. Shapes follow the spec's "Database Schema Design".

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    user_id VARCHAR(50) UNIQUE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    last_active_at TIMESTAMP WITH TIME ZONE,
    preferred_categories TEXT[],
    language VARCHAR(10),
    country VARCHAR(3),
    engagement_level VARCHAR(20),
    total_interactions INTEGER DEFAULT 0,
    is_new_user BOOLEAN DEFAULT TRUE,
    onboarding_completed BOOLEAN DEFAULT FALSE
);
CREATE INDEX idx_users_active ON users(last_active_at DESC);
CREATE INDEX idx_users_engagement ON users(engagement_level);

CREATE TABLE items (
    id BIGSERIAL PRIMARY KEY,
    item_id VARCHAR(50) UNIQUE NOT NULL,
    title VARCHAR(500) NOT NULL,
    description TEXT,
    category VARCHAR(100),
    subcategory VARCHAR(100),
    tags TEXT[],
    content_features JSONB,
    thumbnail_url VARCHAR(2000),
    view_count BIGINT DEFAULT 0,
    interaction_count BIGINT DEFAULT 0,
    avg_rating DECIMAL(3, 2),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    is_active BOOLEAN DEFAULT TRUE,
    is_new_item BOOLEAN DEFAULT TRUE
);
CREATE INDEX idx_items_category ON items(category, subcategory);
CREATE INDEX idx_items_popularity ON items(interaction_count DESC);
CREATE INDEX idx_items_new ON items(created_at DESC) WHERE is_new_item = TRUE;

-- Explicit preferences, one row per version; the newest version is the current one.
CREATE TABLE user_preferences (
    id BIGSERIAL PRIMARY KEY,
    user_id VARCHAR(50) NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    favorite_categories TEXT[] NOT NULL DEFAULT '{}',
    excluded_items TEXT[] NOT NULL DEFAULT '{}',
    language VARCHAR(10),
    idempotency_key VARCHAR(255),
    request_hash CHAR(64),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE (user_id, version)
);
CREATE UNIQUE INDEX idx_user_preferences_idempotency_key
    ON user_preferences(user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Item features, one row per version (optimistic concurrency on version).
CREATE TABLE item_features (
    id BIGSERIAL PRIMARY KEY,
    item_id VARCHAR(50) NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    content_features JSONB NOT NULL DEFAULT '{}',
    popularity_features JSONB NOT NULL DEFAULT '{}',
    engagement_features JSONB NOT NULL DEFAULT '{}',
    idempotency_key VARCHAR(255),
    request_hash CHAR(64),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE (item_id, version)
);
CREATE UNIQUE INDEX idx_item_features_idempotency_key
    ON item_features(item_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Explicit feedback on recommendations; a delete is a tombstone so it is safe to repeat.
CREATE TABLE feedback (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id VARCHAR(50) NOT NULL,
    item_id VARCHAR(50) NOT NULL,
    feedback_type VARCHAR(50) NOT NULL,
    reason VARCHAR(500),
    version INTEGER NOT NULL DEFAULT 1,
    idempotency_key VARCHAR(255),
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX idx_feedback_user ON feedback(user_id, feedback_type) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX idx_feedback_idempotency_key
    ON feedback(user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE precomputed_recommendations (
    user_id VARCHAR(50),
    recommendation_type VARCHAR(50),
    item_id VARCHAR(50) NOT NULL,
    rank INTEGER,
    score FLOAT NOT NULL,
    explanation_type VARCHAR(50),
    model_version VARCHAR(50),
    computed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (user_id, recommendation_type, rank)
);
CREATE INDEX idx_precomputed_expiry ON precomputed_recommendations(expires_at);

-- API keys: only the SHA-256 of the secret is kept; key_prefix identifies a key in logs.
CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    key_prefix VARCHAR(16) UNIQUE NOT NULL,
    key_hash CHAR(64) UNIQUE NOT NULL,
    name VARCHAR(200),
    tier VARCHAR(20) NOT NULL CHECK (tier IN ('free', 'pro', 'enterprise')),
    scopes TEXT[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write', 'admin']::TEXT[]),
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    revoked_at TIMESTAMP WITH TIME ZONE
);

-- A/B experiments; assignments themselves live in Redis for 24 hours (spec).
CREATE TABLE experiments (
    experiment_id VARCHAR(100) PRIMARY KEY,
    variants JSONB NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
