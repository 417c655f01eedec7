-- Idempotency keys of feedback belong to the API key that sent them (as Stripe scopes keys per
-- account), and the request's fingerprint is kept, so that the database backstop refuses a key
-- reused with another body even when Redis has forgotten it.
ALTER TABLE feedback ADD COLUMN idempotency_scope VARCHAR(16);
ALTER TABLE feedback ADD COLUMN request_hash CHAR(64);
DROP INDEX idx_feedback_idempotency_key;
CREATE UNIQUE INDEX idx_feedback_idempotency_key
    ON feedback(idempotency_scope, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
