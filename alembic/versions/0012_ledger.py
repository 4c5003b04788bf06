"""ledger: a double-entry ledger whose balance and immutability PostgreSQL itself enforces

Revision ID: 0012_ledger
Revises: 0011
Create Date: 2026-12-01

`ledger_accounts` is the chart of accounts, opened on first use: one account per kind, service
area and currency, and per organisation (retailer receivable) or courier (courier payable) where it
belongs to one. `journal_entries` holds one row per business event, unique by (kind, source_id), so
a retried handler cannot post twice; `journal_lines` its signed amounts (debit positive, credit
negative) in integer minor units. The database refuses:

- an entry whose lines do not sum to zero in every currency, or with fewer than two lines: deferred
  constraint triggers check, at commit, every entry the transaction touched;
- a line whose currency or area is not its account's, or whose area is not its entry's (composite
  foreign keys);
- a line added to an entry committed earlier (a trigger compares the entry's transaction);
- any UPDATE, DELETE or TRUNCATE of accounts, entries or lines: corrections are new entries that
  reference the corrected one.
"""

from alembic import op
from marketplace.db.migrations import run_script

revision = "0012_ledger"
down_revision = "0011"
branch_labels = None
depends_on = None

ACCOUNT_KINDS = (
    "'bank', 'card_clearing', 'retailer_receivable', 'courier_payable', 'platform_revenue', "
    "'cancellation_fee_revenue', 'refunds', 'stripe_fees', 'claims_expense', 'claims_recoveries'"
)
ENTRY_KINDS = (
    "'charge_captured', 'stripe_fee', 'transfer', 'transfer_reversal', 'refund', 'cancellation_fee', "
    "'claim_upheld', 'payout', 'correction'"
)


def upgrade() -> None:
    run_script(_TABLES.replace("{ACCOUNT_KINDS}", ACCOUNT_KINDS).replace("{ENTRY_KINDS}", ENTRY_KINDS))
    # Function bodies hold semicolons at line ends, so each goes to PostgreSQL whole.
    for statement in _FUNCTIONS:
        op.execute(statement)
    run_script(_TRIGGERS)


_TABLES = """
    CREATE TABLE ledger_accounts (
        id uuid PRIMARY KEY,
        code text NOT NULL CHECK (code ~ '^[0-9]{4}$'),
        kind text NOT NULL CHECK (kind IN ({ACCOUNT_KINDS})),
        area_id uuid NOT NULL REFERENCES service_areas (id),
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        organization_id uuid REFERENCES organizations (id),
        courier_id uuid REFERENCES users (id),
        created_at timestamptz NOT NULL,
        CHECK ((kind = 'retailer_receivable') = (organization_id IS NOT NULL)),
        CHECK ((kind = 'courier_payable') = (courier_id IS NOT NULL)),
        UNIQUE (id, currency, area_id)
    );
    CREATE UNIQUE INDEX ledger_accounts_one_per_owner
        ON ledger_accounts (kind, area_id, currency, organization_id, courier_id) NULLS NOT DISTINCT;
    CREATE INDEX ledger_accounts_courier_idx ON ledger_accounts (courier_id) WHERE courier_id IS NOT NULL;
    CREATE INDEX ledger_accounts_organization_idx
        ON ledger_accounts (organization_id) WHERE organization_id IS NOT NULL;
    CREATE INDEX ledger_accounts_page_idx ON ledger_accounts (created_at, id);

    CREATE TABLE journal_entries (
        id uuid PRIMARY KEY,
        area_id uuid NOT NULL REFERENCES service_areas (id),
        kind text NOT NULL CHECK (kind IN ({ENTRY_KINDS})),
        source_id text NOT NULL CHECK (length(source_id) BETWEEN 1 AND 200),
        description text NOT NULL CHECK (length(description) <= 500),
        corrects_entry_id uuid REFERENCES journal_entries (id),
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL,
        recorded_txid bigint NOT NULL DEFAULT txid_current(),
        UNIQUE (kind, source_id),
        UNIQUE (id, area_id),
        CHECK ((kind = 'correction') = (corrects_entry_id IS NOT NULL))
    );
    CREATE UNIQUE INDEX journal_entries_one_correction ON journal_entries (corrects_entry_id)
        WHERE corrects_entry_id IS NOT NULL;
    CREATE INDEX journal_entries_occurred_idx ON journal_entries (occurred_at, id);
    CREATE INDEX journal_entries_area_occurred_idx ON journal_entries (area_id, occurred_at);

    CREATE TABLE journal_lines (
        id uuid PRIMARY KEY,
        entry_id uuid NOT NULL,
        line_no smallint NOT NULL CHECK (line_no BETWEEN 1 AND 100),
        account_id uuid NOT NULL,
        area_id uuid NOT NULL,
        currency text NOT NULL,
        amount_minor bigint NOT NULL CHECK (amount_minor <> 0),
        occurred_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL,
        UNIQUE (entry_id, line_no),
        FOREIGN KEY (entry_id, area_id) REFERENCES journal_entries (id, area_id),
        FOREIGN KEY (account_id, currency, area_id) REFERENCES ledger_accounts (id, currency, area_id)
    );
    CREATE INDEX journal_lines_account_idx ON journal_lines (account_id, occurred_at);
    CREATE INDEX journal_lines_account_page_idx ON journal_lines (account_id, created_at, id);
"""

_FUNCTIONS = (
    """
    CREATE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        entry uuid;
        line_count integer;
        off record;
    BEGIN
        IF TG_TABLE_NAME = 'journal_entries' THEN
            entry := NEW.id;
        ELSE
            entry := NEW.entry_id;
        END IF;
        SELECT count(*) INTO line_count FROM journal_lines WHERE entry_id = entry;
        IF line_count < 2 THEN
            RAISE EXCEPTION 'journal entry % has % line(s); an entry needs at least two', entry, line_count
                USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_balanced';
        END IF;
        SELECT currency, sum(amount_minor) AS total INTO off
            FROM journal_lines WHERE entry_id = entry
            GROUP BY currency HAVING sum(amount_minor) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'journal entry % does not balance: % % off', entry, off.total, off.currency
                USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_balanced';
        END IF;
        RETURN NULL;
    END;
    $$
    """,
    """
    CREATE FUNCTION ledger_lines_join_open_entries() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM journal_entries WHERE id = NEW.entry_id AND recorded_txid = txid_current()
        ) THEN
            RAISE EXCEPTION 'journal entry % was recorded earlier and cannot take more lines', NEW.entry_id
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END;
    $$
    """,
    """
    CREATE FUNCTION ledger_stamp_entry_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.recorded_txid := txid_current();
        RETURN NEW;
    END;
    $$
    """,
    """
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused; post a correcting entry instead', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END;
    $$
    """,
)

_TRIGGERS = """
    CREATE CONSTRAINT TRIGGER journal_lines_balanced AFTER INSERT ON journal_lines
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();
    CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();
    CREATE TRIGGER journal_entries_stamp BEFORE INSERT ON journal_entries
        FOR EACH ROW EXECUTE FUNCTION ledger_stamp_entry_transaction();
    CREATE TRIGGER journal_lines_open_entry BEFORE INSERT ON journal_lines
        FOR EACH ROW EXECUTE FUNCTION ledger_lines_join_open_entries();
    CREATE TRIGGER ledger_accounts_append_only BEFORE UPDATE OR DELETE ON ledger_accounts
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
    CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
    CREATE TRIGGER journal_lines_append_only BEFORE UPDATE OR DELETE ON journal_lines
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
    CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
    CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
    CREATE TRIGGER journal_lines_no_truncate BEFORE TRUNCATE ON journal_lines
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
"""


def downgrade() -> None:
    run_script(
        """
        DROP TABLE journal_lines;
        DROP TABLE journal_entries;
        DROP TABLE ledger_accounts;
        DROP FUNCTION ledger_refuse_change();
        DROP FUNCTION ledger_lines_join_open_entries();
        DROP FUNCTION ledger_stamp_entry_transaction();
        DROP FUNCTION ledger_check_entry_balanced();
        """
    )
