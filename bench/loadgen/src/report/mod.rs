//! The report: medians per workload and system, ratios ours / HAProxy and
//! ours / direct, the targets of docs/performance.md marked met or missed, the machine,
//! the date, the exact commands and configurations, and every sample. This
//! file renders the tables ([`render`]); the machine information is
//! `meta.rs`'s, the rows and targets `rows.rs`'s, writing BENCHMARKS.md
//! `benchmarks_md.rs`'s. It must never run or measure anything.

mod benchmarks_md;
mod meta;
mod rows;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::stats::median;
use crate::suite::{Profile, Sample};
use crate::systems::System;

pub use benchmarks_md::write_into;
use benchmarks_md::{BEGIN, END};
pub use meta::Meta;
use rows::{judge, rows};

/// The median of every (workload, metric, system) that has samples.
type Medians = BTreeMap<(String, &'static str, System), f64>;

/// The medians of the successful samples, for every row.
fn medians(profile: &Profile, samples: &[Sample]) -> Medians {
    let mut out = Medians::new();
    for row in rows(profile) {
        for system in [System::Direct, System::Haproxy, System::Switchboard] {
            let values: Vec<f64> = samples
                .iter()
                .filter(|s| s.workload == row.workload && s.system == system && s.error.is_none())
                .filter_map(|s| s.metrics.get(row.metric).copied())
                .collect();
            if !values.is_empty() {
                out.insert((row.workload.clone(), row.metric, system), median(&values));
            }
        }
    }
    out
}

/// A figure for a table cell: thousands separators, 0–2 decimals.
fn num(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v);
        // Thousands separators for readability.
        let (sign, digits) = s.split_at(if v < 0.0 { 1 } else { 0 });
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `a / b` when both exist and `b` is positive.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() => Some(a / b),
        _ => None,
    }
}

/// The whole report, markers included, for BENCHMARKS.md.
pub fn render(meta: &Meta, profile: &Profile, samples: &[Sample]) -> String {
    let med = medians(profile, samples);
    let get = |w: &str, m: &'static str, s: System| med.get(&(w.to_string(), m, s)).copied();
    let mut t = String::new();
    let _ = writeln!(t, "{BEGIN}");
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "Run of {} ({} profile): {} round(s), systems alternating within each round, medians below. \
         Load average {} at the start, {} at the end; took {:.0} s.",
        meta.date,
        profile.name,
        profile.rounds,
        meta.load_start,
        meta.load_end,
        meta.elapsed.as_secs_f64()
    );
    if let Some(note) = &meta.truncated {
        let _ = writeln!(t, "\n**Incomplete:** {note}.");
    }
    let _ = writeln!(t, "\n| machine | |\n|---|---|");
    for (k, v) in &meta.machine {
        let _ = writeln!(t, "| {k} | {v} |");
    }

    let _ = writeln!(t, "\n### Results\n");
    let _ = writeln!(
        t,
        "| workload | unit | direct | HAProxy | switchboard | ours / HAProxy | ours / direct | target (docs/performance.md) | met? | reference HAProxy / Go (÷ direct) |"
    );
    let _ = writeln!(t, "|---|---|--:|--:|--:|--:|--:|---|---|---|");
    let mut verdicts = Vec::new();
    for row in rows(profile) {
        let d = get(&row.workload, row.metric, System::Direct);
        let h = get(&row.workload, row.metric, System::Haproxy);
        let o = get(&row.workload, row.metric, System::Switchboard);
        let (vh, vd) = (ratio(o, h), ratio(o, d));
        let (target, met) = judge(row.target, o, vh, vd, row.unit);
        let cell = |v: Option<f64>| v.map_or("—".into(), num);
        let rcell = |v: Option<f64>| {
            v.map_or("—".into(), |r| {
                if r < 0.1 {
                    format!("{r:.3}×")
                } else {
                    format!("{r:.2}×")
                }
            })
        };
        let mark = match (met, target.is_empty()) {
            (_, true) => "",
            (Some(true), _) => "met",
            (Some(false), _) => "**missed**",
            (None, _) => "n/a",
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.label,
            row.unit,
            cell(d),
            cell(h),
            cell(o),
            rcell(vh),
            rcell(vd),
            target,
            mark,
            row.reference
        );
        if !target.is_empty() {
            verdicts.push((row.label.clone(), mark, vh, vd, o, row.unit));
        }
    }
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.error.is_some()).collect();
    if !failed.is_empty() {
        let _ = writeln!(t, "\nFailed samples (left out of the medians):\n");
        for s in failed {
            let _ = writeln!(
                t,
                "- {} on {} (round {}): {}",
                s.workload,
                s.system,
                s.round + 1,
                s.error.as_deref().unwrap_or("")
            );
        }
    }
    let met = verdicts.iter().filter(|v| v.1 == "met").count();
    let missed: Vec<_> = verdicts.iter().filter(|v| v.1 == "**missed**").collect();
    let _ = writeln!(
        t,
        "\nTargets (docs/performance.md): {met} of {} rows met{}.",
        verdicts.len(),
        if missed.is_empty() {
            String::new()
        } else {
            format!(
                "; missed: {}",
                missed
                    .iter()
                    .map(|v| v.0.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    );

    let _ = writeln!(t, "\n### How this was run\n");
    let _ = writeln!(t, "```sh\n{}\n```\n", meta.command);
    let _ = writeln!(
        t,
        "Everything on 127.0.0.1. `loadgen` (bench/loadgen) is the client of every workload and also \
         hosts the two backends: echo servers `a` (preferred, `wsrep_local_index` 0) and `b` (backup, 1), \
         each with a galera-style health endpoint it can break. Each sample starts the system fresh, waits \
         until a session reaches `a`, runs the workload, and stops the system by its PID. Timed workloads \
         run {} s (request/response after {} s of warm-up); failover runs {} trial(s) per round; bulk uses \
         iperf3 with the iperf3 server as backend `a`. The systems were started as:\n",
        profile.seconds, profile.warmup_seconds, profile.trials
    );
    let _ = writeln!(t, "```sh");
    for c in &meta.commands {
        let _ = writeln!(t, "{c}");
    }
    let _ = writeln!(t, "```");
    for (name, text) in &meta.configs {
        let _ = writeln!(
            t,
            "\n<details><summary>{name} (backend a's port is the iperf3 server's for bulk)</summary>\n\n```\n{}```\n\n</details>",
            text
        );
    }

    let _ = writeln!(t, "\n### Every sample\n");
    let rounds = profile.rounds;
    let _ = write!(t, "| workload | figure | system |");
    for r in 1..=rounds {
        let _ = write!(t, " round {r} |");
    }
    let _ = writeln!(t);
    let _ = write!(t, "|---|---|---|");
    for _ in 1..=rounds {
        let _ = write!(t, "--:|");
    }
    let _ = writeln!(t);
    for row in rows(profile) {
        for system in [System::Direct, System::Haproxy, System::Switchboard] {
            let cells: Vec<String> = (0..rounds)
                .map(|r| {
                    samples
                        .iter()
                        .find(|s| s.workload == row.workload && s.system == system && s.round == r)
                        .map_or("".into(), |s| match &s.error {
                            Some(_) => "failed".into(),
                            None => s.metrics.get(row.metric).map_or("".into(), |v| num(*v)),
                        })
                })
                .collect();
            if cells.iter().all(|c| c.is_empty()) {
                continue;
            }
            let _ = writeln!(
                t,
                "| {} | {} ({}) | {} | {} |",
                row.workload,
                row.metric,
                row.unit,
                system,
                cells.join(" | ")
            );
        }
    }
    let _ = writeln!(t, "\n{END}");
    t
}
