//! The timeline of a per-test run: every boundary (the run's begin, each
//! test's start and end, the suite's finish) takes one snapshot round of
//! every service before it is answered, so traffic after a boundary is
//! never counted before it. The counts that arrived between two boundaries
//! (exact differences, as phases take them) belong to whatever was open
//! then: no test yet (the start-up), no test (between tests), one test, or
//! several at once (a parallel group, never one of them alone).
//!
//! Which tests were open is settled at the finish: an end closes the latest
//! open start of its name; a start never ended is closed by the next start
//! of any test, or by the finish, and marked unfinished.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::cover::snapshot::Counts;

/// What happened at one boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Boundary {
    Begin,
    Start(String),
    End(String, String),
    Finish,
}

/// A snapshot round: per service its counts.
pub(super) type Round = Vec<(String, Counts)>;

/// Per service, block key -> count run between two boundaries (non-zero
/// only).
pub(super) type Delta = BTreeMap<String, BTreeMap<String, u64>>;

struct Event {
    what: Boundary,
    /// When it was asked for, and when its snapshot was complete.
    asked: Instant,
    done: Instant,
}

struct Inner {
    last: Option<Round>,
    events: Vec<Event>,
    /// deltas[k]: what ran up to event k since event k-1.
    deltas: Vec<Delta>,
    rounds: Vec<Duration>,
    /// Starts not ended yet, as the calls arrive (for answering ends).
    open: Vec<String>,
    problems: Vec<String>,
    broken: Option<String>,
}

/// The timeline, shared by the coordinator's connections and the `go test`
/// runner; one boundary at a time.
pub(super) struct Recorder<'a> {
    snap: Box<dyn Fn() -> anyhow::Result<Round> + Sync + 'a>,
    inner: Mutex<Inner>,
}

/// One test as the timeline settled it.
#[derive(Clone, Debug)]
pub(super) struct TestRun {
    pub(super) name: String,
    pub(super) result: String,
    pub(super) duration: Duration,
    pub(super) closed_by: Option<String>,
    pub(super) delta: Delta,
}

/// A share of the coverage no single test owns.
#[derive(Clone, Debug)]
pub(super) struct Shared {
    pub(super) kind: &'static str,
    pub(super) tests: Vec<String>,
    pub(super) delta: Delta,
}

/// The settled timeline.
pub(super) struct Timeline {
    pub(super) tests: Vec<TestRun>,
    pub(super) shared: Vec<Shared>,
    /// The last snapshot: the run's coverage.
    pub(super) last: Round,
    /// How long each snapshot round took.
    pub(super) rounds: Vec<Duration>,
    /// Calls that made no sense (an end without a start).
    pub(super) problems: Vec<String>,
}

pub(super) const RESULTS: [&str; 3] = ["passed", "failed", "skipped"];

impl<'a> Recorder<'a> {
    pub(super) fn new(snap: impl Fn() -> anyhow::Result<Round> + Sync + 'a) -> Recorder<'a> {
        Recorder {
            snap: Box::new(snap),
            inner: Mutex::new(Inner {
                last: None,
                events: Vec::new(),
                deltas: Vec::new(),
                rounds: Vec::new(),
                open: Vec::new(),
                problems: Vec::new(),
                broken: None,
            }),
        }
    }

    /// Records a boundary once every service has written its snapshot.
    /// An end that closes nothing is refused (and noted); after a failed
    /// snapshot every later boundary is refused.
    pub(super) fn mark(&self, what: Boundary) -> anyhow::Result<Duration> {
        let asked = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = &inner.broken {
            bail!("no longer measuring: {b}");
        }
        if let Boundary::End(name, result) = &what {
            if !RESULTS.contains(&result.as_str()) {
                bail!("result={result:?}: expected passed, failed or skipped");
            }
            match inner.open.iter().rposition(|n| n == name) {
                Some(i) => {
                    inner.open.remove(i);
                }
                None => {
                    let msg =
                        format!("end of test {name:?}, which was not started (or already ended)");
                    inner.problems.push(msg.clone());
                    bail!("{msg}");
                }
            }
        }
        let round = match (self.snap)() {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("{e:#}");
                inner.broken = Some(msg.clone());
                return Err(e);
            }
        };
        let took = asked.elapsed();
        let delta = difference(&round, inner.last.as_ref());
        if let Boundary::Start(name) = &what {
            inner.open.push(name.clone());
        }
        inner.deltas.push(delta);
        inner.last = Some(round);
        inner.rounds.push(took);
        inner.events.push(Event {
            what,
            asked,
            done: Instant::now(),
        });
        Ok(took)
    }

    /// The finish boundary, then the settled timeline.
    pub(super) fn finish(self) -> anyhow::Result<Timeline> {
        self.mark(Boundary::Finish)?;
        let inner = self.inner.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(settle(inner))
    }
}

/// `after - before` per service and block, non-zero only (a restarted
/// process's counters are new files, so the sums only grow).
fn difference(after: &Round, before: Option<&Round>) -> Delta {
    let mut out = Delta::new();
    for (svc, counts) in after {
        let prev = before.and_then(|b| b.iter().find(|(s, _)| s == svc).map(|(_, c)| c));
        let mut blocks = BTreeMap::new();
        for (k, (_, c)) in counts {
            let b = prev.and_then(|p| p.get(k)).map_or(0, |(_, c)| *c);
            if *c > b {
                blocks.insert(k.clone(), c - b);
            }
        }
        out.insert(svc.clone(), blocks);
    }
    out
}

fn add(into: &mut Delta, d: &Delta) {
    for (svc, blocks) in d {
        let mine = into.entry(svc.clone()).or_default();
        for (k, c) in blocks {
            *mine.entry(k.clone()).or_default() += c;
        }
    }
}

fn settle(inner: Inner) -> Timeline {
    let events = &inner.events;
    // Each start's closing event: its end, else the next start, else the finish.
    let mut runs: Vec<(usize, usize, Option<String>, Option<String>)> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for (k, e) in events.iter().enumerate() {
        match &e.what {
            Boundary::Start(_) => {
                open.push(runs.len());
                runs.push((k, usize::MAX, None, None));
            }
            Boundary::End(name, result) => {
                if let Some(i) = open.iter().rposition(
                    |&r| matches!(&events[runs[r].0].what, Boundary::Start(n) if n == name),
                ) {
                    let r = open.remove(i);
                    runs[r].1 = k;
                    runs[r].2 = Some(result.clone());
                }
            }
            _ => {}
        }
    }
    let finish = events.len() - 1;
    for r in &mut runs {
        if r.1 != usize::MAX {
            continue;
        }
        let next = (r.0 + 1..finish).find(|&k| matches!(events[k].what, Boundary::Start(_)));
        r.1 = next.unwrap_or(finish);
        r.3 = Some(match next {
            Some(k) => match &events[k].what {
                Boundary::Start(n) => format!("start of {n}"),
                _ => unreachable!(),
            },
            None => "end of the suite".to_string(),
        });
    }
    let first_start = runs.first().map_or(finish, |r| r.0);
    let name_of = |r: &(usize, usize, Option<String>, Option<String>)| match &events[r.0].what {
        Boundary::Start(n) => n.clone(),
        _ => unreachable!(),
    };
    let mut tests: Vec<TestRun> = runs
        .iter()
        .map(|r| TestRun {
            name: name_of(r),
            result: r.2.clone().unwrap_or_else(|| "unfinished".into()),
            duration: events[r.1]
                .asked
                .saturating_duration_since(events[r.0].done),
            closed_by: r.3.clone(),
            delta: Delta::new(),
        })
        .collect();
    let mut startup = Delta::new();
    let mut between = Delta::new();
    let mut groups: BTreeMap<Vec<usize>, Delta> = BTreeMap::new();
    for (k, d) in inner.deltas.iter().enumerate() {
        if k <= first_start {
            add(&mut startup, d);
            continue;
        }
        // Open during (k-1, k): started at or before k-1, closed at k or later.
        let owners: Vec<usize> = (0..runs.len())
            .filter(|&i| runs[i].0 < k && runs[i].1 >= k)
            .collect();
        match owners.as_slice() {
            [] => add(&mut between, d),
            [one] => add(&mut tests[*one].delta, d),
            _ => add(groups.entry(owners).or_default(), d),
        }
    }
    let mut shared = vec![Shared {
        kind: "startup",
        tests: Vec::new(),
        delta: startup,
    }];
    let empty = |d: &Delta| d.values().all(BTreeMap::is_empty);
    if !empty(&between) {
        shared.push(Shared {
            kind: "between",
            tests: Vec::new(),
            delta: between,
        });
    }
    for (owners, delta) in groups {
        let names: BTreeSet<String> = owners.iter().map(|&i| tests[i].name.clone()).collect();
        shared.push(Shared {
            kind: "parallel",
            tests: names.into_iter().collect(),
            delta,
        });
    }
    Timeline {
        tests,
        shared,
        last: inner.last.unwrap_or_default(),
        rounds: inner.rounds,
        problems: inner.problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A fake service whose one block counts up by `step` per round: each
    /// interval between boundaries runs it once more.
    fn recorder(clock: &AtomicU64) -> Recorder<'_> {
        Recorder::new(move || {
            let n = clock.fetch_add(1, Ordering::SeqCst);
            let counts: Counts = [
                ("m/a.go:1.1,2.2 1".to_string(), (1, n)),
                (format!("m/b.go:{n}.1,{n}.2 1"), (1, 1)),
            ]
            .into_iter()
            .collect();
            Ok(vec![("svc".to_string(), counts)])
        })
    }

    fn keys(d: &Delta) -> Vec<String> {
        d["svc"].keys().cloned().collect()
    }

    #[test]
    fn intervals_go_to_the_open_test_or_the_group() {
        let clock = AtomicU64::new(0);
        let r = recorder(&clock);
        let start = |n: &str| Boundary::Start(n.into());
        let end = |n: &str| Boundary::End(n.into(), "passed".into());
        r.mark(Boundary::Begin).unwrap(); // round 0
        r.mark(start("A")).unwrap(); // 1
        r.mark(start("B")).unwrap(); // 2: A and B open from here
        r.mark(end("A")).unwrap(); // 3
        r.mark(end("B")).unwrap(); // 4
        assert!(r.mark(end("B")).is_err(), "B already ended");
        r.mark(start("C")).unwrap(); // 5: never ended
        r.mark(start("D")).unwrap(); // 6: closes C
        r.mark(end("D")).unwrap(); // 7
        let t = r.finish().unwrap(); // 8
        let names: Vec<(&str, &str)> = t
            .tests
            .iter()
            .map(|x| (x.name.as_str(), x.result.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("A", "passed"),
                ("B", "passed"),
                ("C", "unfinished"),
                ("D", "passed")
            ]
        );
        assert_eq!(t.tests[2].closed_by.as_deref(), Some("start of D"));
        // A alone ran until B started (round 2), B alone from A's end (4).
        assert_eq!(
            keys(&t.tests[0].delta),
            ["m/a.go:1.1,2.2 1", "m/b.go:2.1,2.2 1"]
        );
        assert_eq!(
            keys(&t.tests[1].delta),
            ["m/a.go:1.1,2.2 1", "m/b.go:4.1,4.2 1"]
        );
        assert_eq!(t.shared[0].kind, "startup");
        assert_eq!(
            keys(&t.shared[0].delta),
            ["m/a.go:1.1,2.2 1", "m/b.go:0.1,0.2 1", "m/b.go:1.1,1.2 1"]
        );
        let kinds: Vec<(&str, Vec<String>)> =
            t.shared.iter().map(|s| (s.kind, s.tests.clone())).collect();
        assert_eq!(
            kinds,
            [
                ("startup", vec![]),
                ("between", vec![]),
                ("parallel", vec!["A".to_string(), "B".to_string()])
            ]
        );
        assert_eq!(
            keys(&t.shared[2].delta),
            ["m/a.go:1.1,2.2 1", "m/b.go:3.1,3.2 1"]
        );
        assert_eq!(t.problems.len(), 1);
    }
}
