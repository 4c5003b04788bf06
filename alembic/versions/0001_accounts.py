"""accounts: organisations, users, sessions, refresh tokens, API keys, rate limits, idempotency keys

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from marketplace.db.migrations import run_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("""
    CREATE TABLE organizations (
        id uuid PRIMARY KEY,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        created_at timestamptz NOT NULL
    );

    CREATE TABLE users (
        id uuid PRIMARY KEY,
        email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
        password_hash text NOT NULL,
        role text NOT NULL CHECK (role IN ('courier', 'retailer', 'finance', 'admin')),
        organization_id uuid REFERENCES organizations (id),
        created_at timestamptz NOT NULL,
        CONSTRAINT users_retailers_have_an_organization CHECK ((role = 'retailer') = (organization_id IS NOT NULL))
    );
    CREATE UNIQUE INDEX users_email_key ON users (lower(email));
    CREATE INDEX users_organization_idx ON users (organization_id) WHERE organization_id IS NOT NULL;
    CREATE INDEX users_created_idx ON users (created_at, id);

    CREATE TABLE sessions (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL,
        revoked_at timestamptz,
        revoked_reason text
    );
    CREATE INDEX sessions_user_idx ON sessions (user_id);

    CREATE TABLE refresh_tokens (
        token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
        session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        issued_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL CHECK (expires_at > issued_at),
        used_at timestamptz
    );
    CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

    CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES organizations (id),
        created_by uuid NOT NULL REFERENCES users (id),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        prefix text NOT NULL UNIQUE,
        key_hash bytea NOT NULL CHECK (length(key_hash) = 32),
        created_at timestamptz NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz
    );
    CREATE INDEX api_keys_organization_idx ON api_keys (organization_id, created_at, id);

    CREATE TABLE rate_limit_buckets (
        bucket text PRIMARY KEY,
        window_started_at timestamptz NOT NULL,
        hits integer NOT NULL CHECK (hits > 0)
    );

    CREATE TABLE idempotency_keys (
        scope text NOT NULL,
        operation text NOT NULL,
        key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
        request_hash bytea NOT NULL,
        response jsonb,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (scope, operation, key)
    );
    CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
    """)


def downgrade() -> None:
    run_script("""
    DROP TABLE idempotency_keys;
    DROP TABLE rate_limit_buckets;
    DROP TABLE api_keys;
    DROP TABLE refresh_tokens;
    DROP TABLE sessions;
    DROP TABLE users;
    DROP TABLE organizations;
    """)
