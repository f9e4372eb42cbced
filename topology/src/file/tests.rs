use super::*;

/// A valid file: two cores, the layout written out.
const GOOD: &str = "\
[machine]
packages = 1
numa_nodes = 1
cores = 2
pus = 2

[layout]
shards = \"auto\"

[[cores]]
id = 0
pus = [0]

[[cores]]
id = 1
pus = [1]

[[shards]]
id = 0
cpu = 0

[[shards]]
id = 1
cpu = 1
";

/// `GOOD` with `from` replaced by `to`; `from` must occur.
fn edit(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from:?} is not in GOOD");
    GOOD.replacen(from, to, 1)
}

fn err(text: &str) -> String {
    Topology::parse(text, "topology.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn the_good_file_loads_with_defaults() {
    let t = Topology::parse(GOOD, "topology.toml").unwrap();
    assert_eq!(t.layout, LayoutConfig::default());
    assert_eq!(t.cores[1].package, 0);
    assert_eq!(t.cores[1].l2_kib, None);
    assert_eq!(t.shards[1], ShardEntry { id: 1, cpu: 1 });
    assert_eq!(t.summary(), "1 package, 1 NUMA node, 2 cores, 2 PUs");
    // Only [machine] and [[cores]] are required.
    let minimal = "[machine]\npackages = 1\nnuma_nodes = 1\ncores = 1\npus = 1\n\
                   [[cores]]\nid = 0\npus = [3]\n";
    let t = Topology::parse(minimal, "minimal.toml").unwrap();
    assert_eq!(t.cpus(), vec![3]);
    assert!(t.shards.is_empty());
}

#[test]
fn written_files_read_back_unchanged() {
    let mut t = Topology::parse(GOOD, "topology.toml").unwrap();
    t.machine.host = Some("db \"7\"".to_owned());
    t.layout = LayoutConfig {
        shards: ShardCount::Count(1),
        exclude_cores: vec![1],
        use_smt_siblings: true,
        reserve_kafka_core: true,
    };
    t.cores[0].l2_kib = Some(2048);
    t.cores[0].l3_group = Some(0);
    t.shards.truncate(1);
    let text = t.to_toml_string();
    assert!(text.contains("host = 'db \"7\"'"), "{text}");
    assert!(text.contains("\nshards = 1 "), "{text}");
    assert_eq!(Topology::parse(&text, "written.toml").unwrap(), t);
}

#[test]
fn unknown_key() {
    assert_eq!(
        err(&edit("pus = [1]", "pus = [1]\nl2_kb = 512")),
        "topology.toml: cores[1].l2_kb: unknown key (known keys: id, pus, package, numa_node, \
         l1d_kib, l2_kib, l2_group, l3_kib, l3_group) (line 17, column 1)"
    );
    assert_eq!(
        err(&edit("[machine]", "[machine]\nsockets = 1")),
        "topology.toml: machine.sockets: unknown key (known keys: host, detected_by, packages, \
         numa_nodes, cores, pus) (line 2, column 1)"
    );
    assert_eq!(
        err(&edit("[machine]", "[kafka]\n[machine]")),
        "topology.toml: kafka: unknown key (known keys: machine, layout, cores, shards) \
         (line 1, column 2)"
    );
}

#[test]
fn missing_key() {
    assert_eq!(
        err(&edit("id = 1\npus = [1]", "id = 1")),
        "topology.toml: cores[1].pus: missing key (line 14, column 1)"
    );
    assert_eq!(
        err(&edit("pus = 2\n", "")),
        "topology.toml: machine.pus: missing key (line 1, column 1)"
    );
    assert_eq!(
        err(""),
        "topology.toml: machine: missing key (line 1, column 1)"
    );
}

#[test]
fn wrong_types_and_values() {
    assert_eq!(
        err(&edit("pus = [0]", "pus = \"0\"")),
        "topology.toml: cores[0].pus: invalid type: string \"0\", expected a sequence \
         (line 12, column 7)"
    );
    assert_eq!(
        err(&edit("shards = \"auto\"", "shards = \"all\"")),
        "topology.toml: layout.shards: invalid value: string \"all\", expected \"auto\" or a \
         number of shards (at least 1) (line 8, column 10)"
    );
    assert_eq!(
        err(&edit("shards = \"auto\"", "shards = 0")),
        "topology.toml: layout.shards: invalid value: integer `0`, expected \"auto\" or a \
         number of shards (at least 1) (line 8, column 10)"
    );
}

#[test]
fn cpu_not_present() {
    assert_eq!(
        err(&edit("cpu = 1", "cpu = 7")),
        "topology.toml: shards[1].cpu: CPU 7 is not on this machine (CPUs: 0, 1)"
    );
}

#[test]
fn cpu_used_twice() {
    assert_eq!(
        err(&edit("cpu = 1", "cpu = 0")),
        "topology.toml: shards[1].cpu: CPU 0 is already used by shards[0]"
    );
    assert_eq!(
        err(&edit("pus = [1]", "pus = [0]")),
        "topology.toml: cores[1].pus: CPU 0 is already a PU of core 0"
    );
}

#[test]
fn non_contiguous_ids() {
    assert_eq!(
        err(&edit("id = 1\ncpu = 1", "id = 2\ncpu = 1")),
        "topology.toml: shards[1].id: expected 1 (shard ids run 0, 1, 2, ... in file order), \
         found 2"
    );
    assert_eq!(
        err(&edit("id = 1\npus = [1]", "id = 5\npus = [1]")),
        "topology.toml: cores[1].id: expected 1 (core ids run 0, 1, 2, ... in file order), \
         found 5"
    );
}

#[test]
fn more_shards_than_usable_cores() {
    assert_eq!(
        err(&edit("shards = \"auto\"", "shards = 3")),
        "topology.toml: layout.shards: 3 shards but only 2 usable cores (2 cores, 0 excluded, \
         0 reserved for Kafka)"
    );
    assert_eq!(
        err(&edit("shards = \"auto\"", "reserve_kafka_core = true")),
        "topology.toml: shards: 2 shards but only 1 usable core (2 cores, 0 excluded, 1 \
         reserved for Kafka); delete the [[shards]] entries to plan from [layout]"
    );
    assert_eq!(
        err(&edit("shards = \"auto\"", "shards = 1")),
        "topology.toml: shards: 2 [[shards]] entries but layout.shards = 1"
    );
}

#[test]
fn toml_syntax_error_keeps_line_and_column() {
    assert_eq!(
        err(&edit("cores = 2", "cores = = 2")),
        "topology.toml: TOML syntax error at line 4, column 9: extra `=`, expected nothing"
    );
    assert!(matches!(
        Topology::parse("[machine\n", "t.toml"),
        Err(TopologyError::Syntax { line: 1, .. })
    ));
}

#[test]
fn layout_contradictions() {
    assert_eq!(
        err(&edit("shards = \"auto\"", "exclude_cores = [5]")),
        "topology.toml: layout.exclude_cores[0]: core 5 does not exist (cores: 0, 1)"
    );
    assert_eq!(
        err(&edit("shards = \"auto\"", "exclude_cores = [1, 1]")),
        "topology.toml: layout.exclude_cores[1]: core 1 is listed twice"
    );
    assert_eq!(
        err(&edit("shards = \"auto\"", "exclude_cores = [0]")),
        "topology.toml: shards[0].cpu: CPU 0 is on core 0, which layout.exclude_cores excludes"
    );
    assert_eq!(
        err(&edit("shards = \"auto\"", "exclude_cores = [0, 1]")),
        "topology.toml: layout.exclude_cores: excludes every core; no core is left for shards"
    );
}

#[test]
fn smt_siblings_need_the_setting() {
    let smt = "[machine]\npackages = 1\nnuma_nodes = 1\ncores = 1\npus = 2\n\
               [[cores]]\nid = 0\npus = [0, 1]\n\
               [[shards]]\nid = 0\ncpu = 0\n[[shards]]\nid = 1\ncpu = 1\n";
    assert_eq!(
        err(smt),
        "topology.toml: shards[1].cpu: CPU 1 shares core 0 with shards[0]; set \
         layout.use_smt_siblings = true to run shards on SMT siblings"
    );
    let allowed = smt.replace("[[cores]]", "[layout]\nuse_smt_siblings = true\n[[cores]]");
    assert!(Topology::parse(&allowed, "t.toml").is_ok());
}

#[test]
fn machine_counts_must_match_the_cores() {
    assert_eq!(
        err(&edit("cores = 2", "cores = 4")),
        "topology.toml: machine.cores: is 4 but there are 2 [[cores]] entries"
    );
    assert_eq!(
        err(&edit("pus = 2", "pus = 4")),
        "topology.toml: machine.pus: is 4 but the [[cores]] entries have 2 PUs"
    );
    assert_eq!(
        err(&edit("pus = [1]", "pus = [1]\npackage = 1")),
        "topology.toml: machine.packages: is 1 but [[cores]] name packages 0, 1"
    );
}

#[test]
fn unreadable_file() {
    let e = Topology::load("/nonexistent/topology.toml").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/topology.toml: cannot read: No such file"),
        "{e}"
    );
}
