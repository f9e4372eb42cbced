-- Stream-table join: every trade with its account's desk and limit (the accounts file is the
-- table: its later rows replace earlier ones per account, `"__deleted": true` removes one).
-- LEFT JOIN: a trade whose account is not in the table still comes out, with NULLs. Over Kafka
-- the table would be a compacted topic: 'accounts.type' = 'kafka_table'.
CREATE STREAM trades_by_desk AS
SELECT t.symbol, t.side, t.price * t.quantity AS notional, t.account, a.desk, a.trader,
       t.price * t.quantity > a.limit AS over_limit
FROM trades t LEFT JOIN accounts a ON t.account = a.account
WITH ('accounts.type' = 'file_table', 'accounts.path' = 'examples/accounts.jsonl');
