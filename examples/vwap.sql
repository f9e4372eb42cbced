-- Volume-weighted average price per symbol over 5-second tumbling windows of event time (the
-- trades' `ts`, epoch milliseconds). Exact decimals throughout: SUM(price * quantity) and the
-- division never pass through floating point. EMIT FINAL: one row per window, once it closes.
CREATE STREAM vwap_5s AS
SELECT symbol,
       _window_start AS window_start,
       SUM(price * quantity) / SUM(quantity) AS vwap,
       SUM(quantity) AS volume,
       COUNT(*) AS trades
FROM trades
GROUP BY symbol
WINDOW TUMBLING(ts, 5s)
EMIT FINAL
WITH ('watermark.max_out_of_orderness' = '500ms');
