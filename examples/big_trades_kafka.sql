-- The demo job over Kafka: trades worth more than 50,000, with their exact notional.
-- Run it with: ferris run examples/big_trades_kafka.sql  (broker: tools/dev-broker.sh start)
CREATE STREAM big_trades AS
SELECT symbol,
       side,
       price,
       quantity,
       price * quantity AS notional,
       account
FROM trades
WHERE price * quantity > 50000
EMIT CHANGES
WITH ('trades.type' = 'kafka_source', 'trades.topic' = 'trades', 'trades.format' = 'json',
      'big_trades.type' = 'kafka_sink', 'big_trades.topic' = 'big_trades', 'big_trades.format' = 'json');
