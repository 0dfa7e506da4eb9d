-- The customers whose tokens the host withdraws with. Tokens are stored encrypted
-- (XChaCha20-Poly1305 with the key from host.token_key_file): base64 of nonce || ciphertext.
CREATE TABLE customers (
    user_seq_no TEXT PRIMARY KEY,
    -- SHA-256 of the credential the customer's app signs in with (hex); NULL until the
    -- customer enrolled through the app.
    credential_hash TEXT,
    access_token TEXT NOT NULL,
    refresh_token TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A customer's accounts: fintech number, or 'pan:' + an EMV PAN.
CREATE TABLE customer_accounts (
    account_key TEXT PRIMARY KEY,
    user_seq_no TEXT NOT NULL REFERENCES customers (user_seq_no)
);

-- The 3-legged flow's state values under way (the callback may reach another host process).
CREATE TABLE enrol_states (
    state TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
