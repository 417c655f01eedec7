-- Bulk imports of interaction history (POST /v1/interactions/imports): one row per import, its
-- progress checkpointed after every chunk of the file, so a worker that dies is resumed where it
-- stopped and nothing is counted twice.
CREATE TABLE interaction_imports (
    import_id VARCHAR(40) PRIMARY KEY,
    owner_key VARCHAR(64) NOT NULL,          -- the API key that created it (only it may read it)
    file_format VARCHAR(10) NOT NULL,        -- csv | jsonl
    object_key VARCHAR(255) NOT NULL,        -- where the file is uploaded in the import bucket
    status VARCHAR(20) NOT NULL DEFAULT 'awaiting_upload',
    rows_read BIGINT NOT NULL DEFAULT 0,
    accepted BIGINT NOT NULL DEFAULT 0,
    duplicates BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    errors JSONB NOT NULL DEFAULT '[]',      -- the first rejected rows: line, code, message
    byte_offset BIGINT NOT NULL DEFAULT 0,   -- the checkpoint: the file is read up to here,
    lines_read BIGINT NOT NULL DEFAULT 0,    -- which is this many lines
    sentinels JSONB NOT NULL DEFAULT '[]',   -- the last accepted event of each stream shard
    failure TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    heartbeat_at TIMESTAMP WITH TIME ZONE,
    read_at TIMESTAMP WITH TIME ZONE,        -- every row read and published
    completed_at TIMESTAMP WITH TIME ZONE    -- every accepted row stored by the consumers
);
