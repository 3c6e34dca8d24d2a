//! Tests of the staleness rule: the instant rule as a table, then the time
//! rule driven by explicit instants.

use super::*;

fn facts(primary: bool, conf_id: u64, uuid: &str) -> GaleraFacts {
    GaleraFacts {
        primary,
        conf_id,
        state_uuid: uuid.into(),
    }
}

fn p(conf_id: u64) -> Option<GaleraFacts> {
    Some(facts(true, conf_id, "u1"))
}

#[test]
fn the_instant_rule_as_a_table() {
    let non_primary = Some(facts(false, 99, "u1"));
    let other_history = Some(facts(true, 99, "u2"));
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, Vec<Option<GaleraFacts>>, Option<&str>)> = vec![
        ("all equal", vec![p(7), p(7), p(7)], None),
        (
            "lower conf id",
            vec![p(5), p(7), p(7)],
            Some("wsrep_cluster_conf_id 5 is behind 7 of the other Primary nodes"),
        ),
        ("higher than the others", vec![p(8), p(7), p(7)], None),
        (
            "behind the highest of the others",
            vec![p(6), p(5), p(7)],
            Some("wsrep_cluster_conf_id 6 is behind 7 of the other Primary nodes"),
        ),
        (
            "a non-Primary peer does not count",
            vec![p(5), non_primary.clone(), p(5)],
            None,
        ),
        (
            "a non-Primary node is never behind",
            vec![non_primary.clone(), p(7)],
            None,
        ),
        ("no peer with facts", vec![p(5), None, None], None),
        ("no facts of its own", vec![None, p(7)], None),
        (
            "a different history than the majority",
            vec![other_history.clone(), p(7), p(7)],
            Some("wsrep_cluster_state_uuid u2 differs from the other Primary nodes' u1"),
        ),
        (
            "a minority's id of another history is not compared",
            vec![p(7), other_history.clone(), p(7)],
            None,
        ),
        (
            "no majority among the peers: the uuid is not judged",
            vec![
                p(7),
                other_history.clone(),
                p(7),
                Some(facts(true, 7, "u3")),
            ],
            None,
        ),
    ];
    for (name, nodes, want) in cases {
        let refs: Vec<Option<&GaleraFacts>> = nodes.iter().map(Option::as_ref).collect();
        assert_eq!(behind(0, &refs).as_deref(), want, "{name}");
    }
}

/// Milliseconds after a base instant.
fn at(base: Instant, ms: u64) -> Instant {
    base + Duration::from_millis(ms)
}

#[test]
fn behind_for_less_than_an_interval_is_not_stale() {
    // db-0 was probed a moment before a membership change; the others then
    // report the new configuration; db-0's next probe reports it too.
    let t = Instant::now();
    let mut c = Consistency::new(3, Duration::from_secs(1));
    c.observe(0, p(5), at(t, 0));
    c.observe(1, p(6), at(t, 200));
    assert_eq!(c.evaluate(at(t, 200)), vec![None, None, None]);
    c.observe(2, p(6), at(t, 300));
    assert_eq!(c.evaluate(at(t, 300)), vec![None, None, None]);
    c.observe(1, p(6), at(t, 1150));
    assert_eq!(
        c.evaluate(at(t, 1150)),
        vec![None, None, None],
        "0.95 s behind"
    );
    c.observe(0, p(6), at(t, 1180));
    assert_eq!(c.evaluate(at(t, 1180)), vec![None, None, None]);
    c.observe(2, p(6), at(t, 1300));
    assert_eq!(c.evaluate(at(t, 1300)), vec![None, None, None], "caught up");
}

#[test]
fn behind_for_longer_than_an_interval_is_stale_until_it_catches_up() {
    // db-0 was paused and resumed: it reports Synced with an old id.
    let t = Instant::now();
    let mut c = Consistency::new(3, Duration::from_secs(1));
    c.observe(1, p(7), at(t, 0));
    c.observe(2, p(7), at(t, 0));
    c.observe(0, p(5), at(t, 100));
    assert_eq!(
        c.evaluate(at(t, 100)),
        vec![None, None, None],
        "just behind"
    );
    c.observe(0, p(5), at(t, 1100));
    assert_eq!(
        c.evaluate(at(t, 1100)),
        vec![None, None, None],
        "exactly one interval is not longer than one"
    );
    c.observe(1, p(7), at(t, 1200));
    let stale = c.evaluate(at(t, 1200));
    assert_eq!(
        stale[0].as_deref(),
        Some("stale: wsrep_cluster_conf_id 5 is behind 7 of the other Primary nodes")
    );
    assert_eq!(stale[1..], [None, None]);
    c.observe(0, p(8), at(t, 2100));
    c.observe(1, p(8), at(t, 2100));
    c.observe(2, p(8), at(t, 2100));
    assert_eq!(c.evaluate(at(t, 2100)), vec![None, None, None], "rejoined");
}

#[test]
fn stale_needs_a_probe_of_the_node_itself_after_it_looked_behind() {
    // db-0's own probes do not come back (each takes the whole timeout):
    // the others' probes alone never make it stale, however long.
    let t = Instant::now();
    let mut c = Consistency::new(2, Duration::from_secs(1));
    c.observe(0, p(5), at(t, 0));
    c.observe(1, p(6), at(t, 500));
    assert_eq!(c.evaluate(at(t, 500)), vec![None, None]);
    c.observe(1, p(6), at(t, 3500));
    assert_eq!(c.evaluate(at(t, 3500)), vec![None, None]);
    c.observe(0, p(5), at(t, 3600));
    assert_eq!(
        c.evaluate(at(t, 3600))[0].as_deref(),
        Some("stale: wsrep_cluster_conf_id 5 is behind 6 of the other Primary nodes")
    );
}

#[test]
fn a_break_in_looking_behind_restarts_the_wait() {
    let t = Instant::now();
    let mut c = Consistency::new(2, Duration::from_secs(1));
    c.observe(1, p(6), at(t, 0));
    c.observe(0, p(5), at(t, 0));
    assert_eq!(c.evaluate(at(t, 0)), vec![None, None]);
    c.observe(0, None, at(t, 900)); // a failed probe: no facts
    assert_eq!(c.evaluate(at(t, 900)), vec![None, None]);
    c.observe(0, p(5), at(t, 1500));
    assert_eq!(
        c.evaluate(at(t, 1500)),
        vec![None, None],
        "behind since 1.5"
    );
    c.observe(0, p(5), at(t, 2600));
    assert!(
        c.evaluate(at(t, 2600))[0].is_some(),
        "behind since 1.5, 1.1 s"
    );
}
