//! Exchange rings between shards (being written).
