//! Progress on stderr for `covtools cover`: indicatif bars (one per
//! phase, one line per service under it) when stderr is a terminal, plain
//! `cover: …` lines otherwise, so CI logs stay readable.
//!
//! A finished step leaves the bars and is printed above them, so it stays
//! on screen and in the scrollback (as cargo's do). In plain mode every
//! finished item gets a line, and a phase still running says so every
//! [`HEARTBEAT`], naming what it waits for: a log never goes silent.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often plain mode says what a running phase still waits for.
pub const HEARTBEAT: Duration = Duration::from_secs(20);

/// Where progress goes; cheap to clone, shared by worker threads.
#[derive(Clone)]
pub struct Progress {
    multi: Option<Arc<MultiProgress>>,
    heartbeat: Duration,
    /// Plain lines go here instead of stderr (tests).
    sink: Option<Arc<Mutex<Vec<u8>>>>,
    /// How many bars are drawn.
    live: Arc<std::sync::atomic::AtomicUsize>,
}

impl Progress {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn auto() -> Progress {
        Progress::new(std::io::stderr().is_terminal())
    }

    pub fn new(bars: bool) -> Progress {
        Progress {
            multi: bars
                .then(|| Arc::new(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))),
            heartbeat: HEARTBEAT,
            sink: None,
            live: Arc::default(),
        }
    }

    /// Plain progress written to a buffer, with the given heartbeat (tests).
    pub fn captured(heartbeat: Duration) -> (Progress, Arc<Mutex<Vec<u8>>>) {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let p = Progress {
            multi: None,
            heartbeat,
            sink: Some(sink.clone()),
            live: Arc::default(),
        };
        (p, sink)
    }

    /// One plain `cover: …` line.
    fn plain(&self, msg: &str) {
        match &self.sink {
            Some(sink) => {
                let _ = writeln!(sink.lock().unwrap(), "cover: {msg}");
            }
            None => eprintln!("cover: {msg}"),
        }
    }

    /// A finished line above the bars (bars mode).
    fn above(&self, bar: &ProgressBar, line: String) {
        if let Some(m) = &self.multi {
            bar.finish_and_clear();
            m.remove(bar);
            self.live.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            let _ = m.println(line);
        }
    }

    pub fn is_bars(&self) -> bool {
        self.multi.is_some()
    }

    /// The bars still drawn (tests).
    #[cfg(test)]
    fn live_bars(&self) -> usize {
        self.live.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Adds a bar below the others.
    fn add(&self, m: &MultiProgress, bar: ProgressBar) -> ProgressBar {
        self.live.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        m.add(bar)
    }

    /// One line of text (above the bars when they are drawn).
    pub fn line(&self, msg: impl AsRef<str>) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg.as_ref());
            }
            None => self.plain(msg.as_ref()),
        }
    }

    /// Starts a phase of `items` steps (0: a spinner without a count).
    pub fn phase(&self, name: &str, items: u64) -> Phase {
        let bar = self.multi.as_ref().map(|m| {
            let bar = self.add(
                m,
                if items == 0 {
                    ProgressBar::new_spinner()
                } else {
                    ProgressBar::new(items)
                },
            );
            let template = if items == 0 {
                "{spinner:.cyan} {prefix:<9.bold} {elapsed:>4} {msg}"
            } else {
                "{spinner:.cyan} {prefix:<9.bold} [{bar:20.cyan/blue}] {pos}/{len} {elapsed:>4} {msg}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let running: Arc<Mutex<BTreeMap<String, Instant>>> = Arc::default();
        let mut stop = None;
        if bar.is_none() {
            self.plain(&format!("[{name}] started"));
            // The heartbeat: wakes every interval until the phase ends (the
            // sender is dropped).
            let (tx, rx) = mpsc::channel::<()>();
            stop = Some(tx);
            let (progress, name, running, started) = (
                self.clone(),
                name.to_string(),
                running.clone(),
                Instant::now(),
            );
            std::thread::spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(progress.heartbeat)
                {
                    let now = Instant::now();
                    let items: Vec<String> = running
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|(n, t)| format!("{n} ({:.0}s)", (now - *t).as_secs_f64()))
                        .collect();
                    let what = if items.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", items.join(", "))
                    };
                    progress.plain(&format!(
                        "[{name}] still running after {:.0}s{what}",
                        started.elapsed().as_secs_f64()
                    ));
                }
            });
        }
        Phase {
            progress: self.clone(),
            name: name.to_string(),
            bar,
            started: Instant::now(),
            running,
            _stop: stop,
        }
    }
}

/// One phase: a bar counting its items, or a start and an end line.
pub struct Phase {
    progress: Progress,
    name: String,
    bar: Option<ProgressBar>,
    started: Instant,
    /// The items not finished yet, for the heartbeat.
    running: Arc<Mutex<BTreeMap<String, Instant>>>,
    /// Dropped when the phase ends: stops the heartbeat.
    _stop: Option<mpsc::Sender<()>>,
}

impl Phase {
    /// A line for one service (or other unit of work) of this phase.
    pub fn item(&self, name: &str, msg: &str) -> Item {
        self.running
            .lock()
            .unwrap()
            .insert(name.to_string(), Instant::now());
        // One phase runs at a time: its items go below it, in start order.
        let bar = self.progress.multi.as_ref().map(|m| {
            let bar = self.progress.add(m, ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {spinner:.cyan} {prefix:<10} {elapsed:>4} {msg}")
                    .expect("valid template"),
            );
            bar.set_prefix(name.to_string());
            bar.set_message(msg.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Item {
            progress: self.progress.clone(),
            phase: self.name.clone(),
            name: name.to_string(),
            bar,
            phase_bar: self.bar.clone(),
            running: self.running.clone(),
            started: Instant::now(),
        }
    }

    /// A message on the phase's own line.
    pub fn set(&self, msg: impl Into<String>) {
        if let Some(b) = &self.bar {
            b.set_message(msg.into());
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ends the phase; returns how long it took.
    pub fn finish(self, msg: &str) -> Duration {
        self.end(msg, true)
    }

    /// Ends the phase as failed.
    pub fn fail(self, msg: &str) -> Duration {
        self.end(msg, false)
    }

    fn end(self, msg: &str, ok: bool) -> Duration {
        let took = self.started.elapsed();
        let secs = took.as_secs_f64();
        match &self.bar {
            Some(b) => {
                let (color, mark) = if ok { ("32", "") } else { ("31", "FAILED: ") };
                self.progress.above(
                    b,
                    format!(
                        "\x1b[1;{color}m{:<11}\x1b[0m {mark}{msg} ({secs:.1}s)",
                        self.name
                    ),
                );
            }
            None if ok => self
                .progress
                .plain(&format!("[{}] {msg} ({secs:.1}s)", self.name)),
            None => self
                .progress
                .plain(&format!("[{}] FAILED: {msg} ({secs:.1}s)", self.name)),
        }
        took
    }
}

/// One line of a phase.
pub struct Item {
    progress: Progress,
    phase: String,
    name: String,
    bar: Option<ProgressBar>,
    phase_bar: Option<ProgressBar>,
    running: Arc<Mutex<BTreeMap<String, Instant>>>,
    started: Instant,
}

impl Item {
    /// What the item is doing now (bars only: plain mode prints outcomes).
    pub fn set(&self, msg: impl Into<String>) {
        if let Some(b) = &self.bar {
            b.set_message(msg.into());
        }
    }

    pub fn done(self, msg: &str) {
        self.end(msg, true);
    }

    pub fn fail(self, msg: &str) {
        self.end(msg, false);
    }

    fn end(self, msg: &str, ok: bool) {
        self.running.lock().unwrap().remove(&self.name);
        let took = self.started.elapsed().as_secs_f64();
        let mark = if ok { "" } else { "FAILED: " };
        match &self.bar {
            Some(b) => {
                let color = if ok { "32" } else { "31" };
                self.progress.above(
                    b,
                    format!(
                        "  \x1b[{color}m{:<12}\x1b[0m {mark}{msg} ({took:.1}s)",
                        self.name
                    ),
                );
            }
            None => self.progress.plain(&format!(
                "[{}] {}: {mark}{msg} ({took:.1}s)",
                self.phase, self.name
            )),
        }
        if let Some(p) = &self.phase_bar {
            p.inc(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sink: &Mutex<Vec<u8>>) -> String {
        String::from_utf8(sink.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn plain_mode_prints_each_finished_item_and_a_heartbeat_of_what_runs() {
        let (p, sink) = Progress::captured(Duration::from_millis(100));
        let phase = p.phase("build", 2);
        let a = phase.item("orders", "go test -c");
        let b = phase.item("gateway", "go test -c");
        a.done("bin/orders.test");
        std::thread::sleep(Duration::from_millis(350));
        b.fail("build failed");
        phase.fail("1 of 2 builds failed");
        let out = text(&sink);
        assert!(out.contains("cover: [build] started\n"), "{out}");
        assert!(
            out.contains("cover: [build] orders: bin/orders.test ("),
            "{out}"
        );
        assert!(
            out.contains("cover: [build] still running after 0s: gateway (0s)"),
            "{out}"
        );
        assert!(
            out.contains("cover: [build] gateway: FAILED: build failed"),
            "{out}"
        );
        assert!(
            out.contains("cover: [build] FAILED: 1 of 2 builds failed"),
            "{out}"
        );
        // The heartbeat ends with its phase.
        let len = out.len();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(text(&sink).len(), len, "{}", text(&sink));
    }

    #[test]
    fn finished_bars_leave_the_live_area() {
        let p = Progress::new(true);
        let phase = p.phase("start", 1);
        let item = phase.item("orders", "docker run");
        assert_eq!(p.live_bars(), 2);
        item.done("ready");
        assert_eq!(p.live_bars(), 1, "the finished item went above the bars");
        phase.finish("all ready");
        assert_eq!(
            p.live_bars(),
            0,
            "finished phases stay on screen, not in the bars"
        );
    }
}
