-- The payment host's records (SQLite). The PostgreSQL twin differs only in the serial key.
CREATE TABLE terminals (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- SHA-256 of the terminal's 256-bit random secret, hex: the secret itself is never kept.
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- One row per charge a terminal asked for; its serial number makes the bank_tran_id.
CREATE TABLE charges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    payment_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    reply TEXT,
    sent_at BIGINT NOT NULL,
    not_found_at BIGINT,
    updated_at BIGINT NOT NULL,
    UNIQUE (terminal_id, payment_id)
);

-- The one register of used one-time codes, for every terminal of the host.
CREATE TABLE code_nonces (
    nonce TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    keep_until BIGINT NOT NULL
);
CREATE INDEX code_nonces_keep_until ON code_nonces (keep_until);
