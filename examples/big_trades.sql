-- Trades worth more than 50,000. price * quantity is exact decimal arithmetic:
-- 187.25 * 300 is 56175.00, never a binary floating-point approximation.
CREATE STREAM big_trades AS
SELECT symbol,
       side,
       price,
       quantity,
       price * quantity AS notional,
       account,
       pnl
FROM trades
WHERE price * quantity > 50000;
