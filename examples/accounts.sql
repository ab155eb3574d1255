-- The demo schema of `npx twopc dev`: applied by every shard at every start, so it is idempotent.
-- INSERT OR IGNORE seeds the accounts once and never overwrites balances that transfers have changed.
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY,
  owner TEXT NOT NULL,
  balance INTEGER NOT NULL CHECK (balance >= 0)
);

INSERT OR IGNORE INTO accounts (id, owner, balance) VALUES
  (1, 'alice', 100),
  (2, 'bob', 100),
  (3, 'carol', 100);
