//! Performance presets: named sets of librdkafka client settings and engine settings, chosen
//! per job with `'<job>.preset'` or for every job with `ferris run --preset`.
//!
//! Each preset is a layer between the engine's defaults and the user's own settings:
//!
//! - client properties: [`CONSUMER_DEFAULTS`] / [`PRODUCER_DEFAULTS`], then the preset's
//!   ([`Preset::consumer_properties`], [`Preset::producer_properties`]), then the user's
//!   `'<stream>.<key>'` properties, which always win;
//! - engine settings: [`ShardSettings::default`], then the preset's ([`Preset::engine`]), then
//!   explicit command-line flags such as `--batch-size` ([`EngineOverrides`]).
//!
//! `balanced` (the default) adds nothing: it is exactly the engine's defaults. The table of
//! every setting is in docs/operations.md, "Presets".

use std::time::Duration;

use crate::connector::kafka::{CONSUMER_DEFAULTS, PRODUCER_DEFAULTS};
use crate::error::{FerrisError, Result};
use crate::shard::ShardSettings;
use crate::shard::adaptive::AdaptiveLimits;

/// The valid preset names, in the order the documentation lists them.
pub const PRESET_NAMES: &[&str] = &[
    "low_latency",
    "balanced",
    "high_throughput",
    "durable",
    "auto",
];

/// A named set of client and engine settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Records leave as soon as they arrive: short fetch waits, no linger, small batches, a
    /// short idle sleep.
    LowLatency,
    /// The engine's defaults (nothing changed).
    #[default]
    Balanced,
    /// Fewer, larger requests: fetches wait for 64 KiB, 20 ms linger, lz4 compression, large
    /// batches, commits once a second.
    HighThroughput,
    /// `acks=all` and the idempotent producer: no duplicates or reordering from producer
    /// retries (not on tansu 0.6: see docs/operations.md).
    Durable,
    /// Adaptive batching: the low-latency client settings, and a feedback loop on each shard
    /// that moves the batch limit and the linger with the load and keeps a memory budget
    /// ([`crate::shard::adaptive`]).
    Auto,
}

/// The engine settings a preset chooses (the rest of [`ShardSettings`] is not a preset's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// Records polled per batch at most ([`ShardSettings::batch_size`]).
    pub batch_size: usize,
    /// How often delivered offsets are committed ([`ShardSettings::commit_interval`]).
    pub commit_interval: Duration,
    /// Longest idle sleep when there is nothing to consume ([`ShardSettings::max_idle_sleep`]).
    pub max_idle_sleep: Duration,
}

/// Engine settings given explicitly (command-line flags): each one set wins over the preset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineOverrides {
    /// `--batch-size`.
    pub batch_size: Option<usize>,
    /// Commit interval.
    pub commit_interval: Option<Duration>,
    /// Longest idle sleep.
    pub max_idle_sleep: Option<Duration>,
}

const LOW_LATENCY_CONSUMER: &[(&str, &str)] =
    &[("fetch.wait.max.ms", "1"), ("fetch.min.bytes", "1")];
const LOW_LATENCY_PRODUCER: &[(&str, &str)] = &[("linger.ms", "0")];
const HIGH_THROUGHPUT_CONSUMER: &[(&str, &str)] =
    &[("fetch.wait.max.ms", "100"), ("fetch.min.bytes", "65536")];
const HIGH_THROUGHPUT_PRODUCER: &[(&str, &str)] = &[
    ("linger.ms", "20"),
    ("batch.num.messages", "100000"),
    ("batch.size", "1000000"),
    // librdkafka's own lz4 (built in, no system library needed).
    ("compression.type", "lz4"),
];
/// `auto` hands records to the producer in bursts (the engine's linger): librdkafka sends
/// each at once, in requests as large as the high-throughput end's, compressed.
const AUTO_PRODUCER: &[(&str, &str)] = &[
    ("linger.ms", "0"),
    ("batch.num.messages", "100000"),
    ("batch.size", "1000000"),
    ("compression.type", "lz4"),
];
const DURABLE_PRODUCER: &[(&str, &str)] = &[("acks", "all"), ("enable.idempotence", "true")];

impl Preset {
    /// Every preset, in the order of [`PRESET_NAMES`].
    pub const ALL: [Preset; 5] = [
        Preset::LowLatency,
        Preset::Balanced,
        Preset::HighThroughput,
        Preset::Durable,
        Preset::Auto,
    ];

    /// The preset called `name` (case-insensitive). Unknown names are configuration errors
    /// that list the valid names.
    pub fn from_name(name: &str) -> Result<Preset> {
        let wanted = name.trim();
        if let Some(p) = Preset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(wanted))
        {
            return Ok(p);
        }
        let valid = PRESET_NAMES.join(", ");
        Err(FerrisError::Config(format!(
            "unknown preset '{name}': expected one of {valid}"
        )))
    }

    /// The preset's name, as `from_name` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Preset::LowLatency => "low_latency",
            Preset::Balanced => "balanced",
            Preset::HighThroughput => "high_throughput",
            Preset::Durable => "durable",
            Preset::Auto => "auto",
        }
    }

    /// Consumer properties the preset sets over [`CONSUMER_DEFAULTS`].
    pub fn consumer_properties(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Preset::LowLatency | Preset::Auto => LOW_LATENCY_CONSUMER,
            Preset::HighThroughput => HIGH_THROUGHPUT_CONSUMER,
            Preset::Balanced | Preset::Durable => &[],
        }
    }

    /// Producer properties the preset sets over [`PRODUCER_DEFAULTS`].
    pub fn producer_properties(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Preset::LowLatency => LOW_LATENCY_PRODUCER,
            Preset::HighThroughput => HIGH_THROUGHPUT_PRODUCER,
            Preset::Durable => DURABLE_PRODUCER,
            Preset::Auto => AUTO_PRODUCER,
            Preset::Balanced => &[],
        }
    }

    /// The consumer's defaults under this preset: [`CONSUMER_DEFAULTS`] with the preset's
    /// properties replacing those of the same key (the user's properties go on top).
    pub fn consumer_defaults(self) -> Vec<(&'static str, &'static str)> {
        layered(CONSUMER_DEFAULTS, self.consumer_properties())
    }

    /// The producer's defaults under this preset: [`PRODUCER_DEFAULTS`] with the preset's
    /// properties replacing those of the same key (the user's properties go on top).
    pub fn producer_defaults(self) -> Vec<(&'static str, &'static str)> {
        layered(PRODUCER_DEFAULTS, self.producer_properties())
    }

    /// The engine settings of this preset.
    pub fn engine(self) -> EngineSettings {
        let d = ShardSettings::default();
        let balanced = EngineSettings {
            batch_size: d.batch_size,
            commit_interval: d.commit_interval,
            max_idle_sleep: d.max_idle_sleep,
        };
        match self {
            Preset::Balanced | Preset::Durable => balanced,
            Preset::LowLatency => EngineSettings {
                batch_size: 64,
                max_idle_sleep: Duration::from_millis(1),
                ..balanced
            },
            Preset::HighThroughput => EngineSettings {
                batch_size: 4096,
                commit_interval: Duration::from_secs(1),
                ..balanced
            },
            // The batch size is the adaptive loop's largest batch limit; it starts at the
            // smallest.
            Preset::Auto => EngineSettings {
                batch_size: AdaptiveLimits::default().max_batch,
                max_idle_sleep: Duration::from_millis(1),
                ..balanced
            },
        }
    }

    /// `base` with this preset's engine settings, then `overrides`, and `preset` set to this
    /// preset (for the job's clients).
    pub fn shard_settings(
        self,
        base: &ShardSettings,
        overrides: &EngineOverrides,
    ) -> ShardSettings {
        let e = self.engine();
        let batch_size = overrides.batch_size.unwrap_or(e.batch_size).max(1);
        ShardSettings {
            batch_size,
            commit_interval: overrides.commit_interval.unwrap_or(e.commit_interval),
            max_idle_sleep: overrides.max_idle_sleep.unwrap_or(e.max_idle_sleep),
            preset: self,
            // An explicit `--batch-size` is the loop's largest batch limit.
            adaptive: (self == Preset::Auto).then(|| AdaptiveLimits {
                max_batch: batch_size,
                ..base.adaptive.unwrap_or_default()
            }),
            ..base.clone()
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `base`, with the pairs of `over` replacing those of the same key and the others appended.
fn layered(
    base: &[(&'static str, &'static str)],
    over: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = base
        .iter()
        .map(|&(k, v)| {
            over.iter()
                .find(|(o, _)| *o == k)
                .map_or((k, v), |&(_, ov)| (k, ov))
        })
        .collect();
    out.extend(
        over.iter()
            .filter(|(k, _)| !base.iter().any(|(b, _)| b == k)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::kafka::client_config;
    use rdkafka::consumer::BaseConsumer;
    use rdkafka::producer::BaseProducer;

    #[test]
    fn names_are_case_insensitive_and_round_trip() {
        for p in Preset::ALL {
            assert_eq!(Preset::from_name(p.name()).unwrap(), p);
            assert_eq!(Preset::from_name(&p.name().to_uppercase()).unwrap(), p);
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!(
            Preset::from_name(" Low_Latency ").unwrap(),
            Preset::LowLatency
        );
        assert_eq!(Preset::default(), Preset::Balanced);
        assert_eq!(
            Preset::ALL.map(Preset::name).as_slice(),
            PRESET_NAMES,
            "PRESET_NAMES lists every preset in order"
        );
    }

    #[test]
    fn unknown_names_are_errors_that_list_the_valid_ones() {
        let e = Preset::from_name("fast").unwrap_err().to_string();
        assert_eq!(
            e,
            "configuration error: unknown preset 'fast': expected one of low_latency, balanced, \
             high_throughput, durable, auto"
        );
        assert_eq!(Preset::from_name("AUTO").unwrap(), Preset::Auto);
        assert!(Preset::from_name("").is_err());
        assert!(Preset::from_name("low-latency").is_err());
    }

    #[test]
    fn auto_runs_the_adaptive_loop_with_an_explicit_batch_size_as_its_largest_limit() {
        let d = ShardSettings::default();
        let s = Preset::Auto.shard_settings(&d, &EngineOverrides::default());
        assert_eq!(s.adaptive, Some(AdaptiveLimits::default()));
        assert_eq!(s.batch_size, AdaptiveLimits::default().max_batch);
        let explicit = EngineOverrides {
            batch_size: Some(500),
            ..EngineOverrides::default()
        };
        let s = Preset::Auto.shard_settings(&d, &explicit);
        assert_eq!(s.adaptive.map(|a| a.max_batch), Some(500));
        for p in [Preset::Balanced, Preset::LowLatency, Preset::HighThroughput] {
            assert_eq!(p.shard_settings(&d, &explicit).adaptive, None, "{p}");
        }
        // The client end of auto is low_latency's consumer and a producer that sends at once.
        assert_eq!(
            Preset::Auto.consumer_properties(),
            Preset::LowLatency.consumer_properties()
        );
        assert!(
            Preset::Auto
                .producer_defaults()
                .contains(&("linger.ms", "0"))
        );
    }

    #[test]
    fn balanced_is_exactly_the_engine_defaults() {
        let b = Preset::Balanced;
        assert_eq!(b.consumer_defaults(), CONSUMER_DEFAULTS.to_vec());
        assert_eq!(b.producer_defaults(), PRODUCER_DEFAULTS.to_vec());
        let d = ShardSettings::default();
        let s = b.shard_settings(&d, &EngineOverrides::default());
        assert_eq!(
            (s.batch_size, s.commit_interval, s.max_idle_sleep, s.preset),
            (
                d.batch_size,
                d.commit_interval,
                d.max_idle_sleep,
                Preset::Balanced
            )
        );
        assert_eq!((d.batch_size, d.preset), (1024, Preset::Balanced));
    }

    #[test]
    fn a_preset_overrides_the_defaults_and_the_user_overrides_the_preset() {
        let defaults = Preset::LowLatency.consumer_defaults();
        // The preset replaces the default in place; the other defaults stay.
        assert!(defaults.contains(&("fetch.wait.max.ms", "1")));
        assert!(!defaults.contains(&("fetch.wait.max.ms", "50")));
        assert!(defaults.contains(&("enable.auto.commit", "false")));
        assert!(defaults.contains(&("fetch.min.bytes", "1")));
        let c = client_config("b:1", &defaults, &[]);
        assert_eq!(c.get("fetch.wait.max.ms"), Some("1"));
        let c = client_config(
            "b:1",
            &defaults,
            &[("fetch.wait.max.ms".into(), "17".into())],
        );
        assert_eq!(c.get("fetch.wait.max.ms"), Some("17"));
        assert_eq!(c.get("auto.offset.reset"), Some("earliest"));

        let p = client_config(
            "b:1",
            &Preset::HighThroughput.producer_defaults(),
            &[("compression.type".into(), "gzip".into())],
        );
        assert_eq!(p.get("compression.type"), Some("gzip"));
        assert_eq!(p.get("linger.ms"), Some("20"));
        assert_eq!(p.get("message.timeout.ms"), Some("0"));

        let d = Preset::Durable.producer_defaults();
        assert!(d.contains(&("acks", "all")));
        assert!(d.contains(&("enable.idempotence", "true")));
        assert!(d.contains(&("linger.ms", "5")));
        assert_eq!(
            Preset::Durable.consumer_defaults(),
            CONSUMER_DEFAULTS.to_vec()
        );
    }

    #[test]
    fn engine_settings_follow_the_preset_unless_given_explicitly() {
        let base = ShardSettings {
            brokers: "b:1".into(),
            drain_timeout: Duration::from_secs(3),
            ..ShardSettings::default()
        };
        let s = Preset::LowLatency.shard_settings(&base, &EngineOverrides::default());
        assert_eq!(s.batch_size, 64);
        assert_eq!(s.max_idle_sleep, Duration::from_millis(1));
        assert_eq!(s.commit_interval, base.commit_interval);
        assert_eq!(s.preset, Preset::LowLatency);
        // Not a preset's: kept.
        assert_eq!(
            (s.brokers.as_str(), s.drain_timeout),
            ("b:1", base.drain_timeout)
        );

        let s = Preset::HighThroughput.shard_settings(
            &base,
            &EngineOverrides {
                batch_size: Some(100),
                ..EngineOverrides::default()
            },
        );
        assert_eq!(s.batch_size, 100);
        assert_eq!(s.commit_interval, Duration::from_secs(1));
        let s = Preset::Balanced.shard_settings(
            &base,
            &EngineOverrides {
                batch_size: Some(0),
                commit_interval: Some(Duration::from_millis(7)),
                max_idle_sleep: Some(Duration::from_millis(9)),
            },
        );
        assert_eq!(
            (s.batch_size, s.commit_interval, s.max_idle_sleep),
            (1, Duration::from_millis(7), Duration::from_millis(9))
        );
    }

    /// librdkafka accepts every preset's properties (lz4 is built in), without a broker.
    #[test]
    fn every_preset_makes_valid_clients() {
        for p in Preset::ALL {
            let mut consumer = p.consumer_defaults();
            consumer.push(("group.id", "preset-test"));
            let c: std::result::Result<BaseConsumer, _> =
                client_config("127.0.0.1:1", &consumer, &[]).create();
            assert!(c.is_ok(), "{p} consumer: {:?}", c.err());
            let pr: std::result::Result<BaseProducer, _> =
                client_config("127.0.0.1:1", &p.producer_defaults(), &[]).create();
            assert!(pr.is_ok(), "{p} producer: {:?}", pr.err());
        }
    }
}
