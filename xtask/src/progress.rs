//! Progress on stderr for `integration-cover`: indicatif bars (one per
//! phase, one line per service under it) when stderr is a terminal, plain
//! `cover: …` lines otherwise, so CI logs stay readable.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes; cheap to clone, shared by worker threads.
#[derive(Clone)]
pub struct Progress {
    multi: Option<Arc<MultiProgress>>,
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
        }
    }

    pub fn is_bars(&self) -> bool {
        self.multi.is_some()
    }

    /// One line of text (above the bars when they are drawn).
    pub fn line(&self, msg: impl AsRef<str>) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg.as_ref());
            }
            None => eprintln!("cover: {}", msg.as_ref()),
        }
    }

    /// Starts a phase of `items` steps (0: a spinner without a count).
    pub fn phase(&self, name: &str, items: u64) -> Phase {
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(if items == 0 {
                ProgressBar::new_spinner()
            } else {
                ProgressBar::new(items)
            });
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
        if bar.is_none() {
            eprintln!("cover: [{name}] started");
        }
        Phase {
            progress: self.clone(),
            name: name.to_string(),
            last: Mutex::new(bar.clone()),
            bar,
            started: Instant::now(),
        }
    }
}

/// One phase: a bar counting its items, or a start and an end line.
pub struct Phase {
    progress: Progress,
    name: String,
    bar: Option<ProgressBar>,
    /// The line new items go under (items keep their start order).
    last: Mutex<Option<ProgressBar>>,
    started: Instant,
}

impl Phase {
    /// A line for one service (or other unit of work) of this phase.
    pub fn item(&self, name: &str, msg: &str) -> Item {
        let bar = self.progress.multi.as_ref().map(|m| {
            let mut last = self.last.lock().unwrap();
            let bar = m.insert_after(
                last.as_ref().expect("bars mode has a phase bar"),
                ProgressBar::new_spinner(),
            );
            *last = Some(bar.clone());
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
            phase: self.name.clone(),
            name: name.to_string(),
            bar,
            phase_bar: self.bar.clone(),
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
        let took = self.started.elapsed();
        match &self.bar {
            Some(b) => {
                b.set_style(
                    ProgressStyle::with_template("{prefix:<11.bold.green} {msg}")
                        .expect("valid template"),
                );
                b.finish_with_message(format!("{msg} ({:.1}s)", took.as_secs_f64()));
            }
            None => eprintln!("cover: [{}] {msg} ({:.1}s)", self.name, took.as_secs_f64()),
        }
        took
    }

    /// Ends the phase as failed.
    pub fn fail(self, msg: &str) -> Duration {
        let took = self.started.elapsed();
        match &self.bar {
            Some(b) => {
                b.set_style(
                    ProgressStyle::with_template("{prefix:<11.bold.red} {msg}")
                        .expect("valid template"),
                );
                b.abandon_with_message(format!("{msg} ({:.1}s)", took.as_secs_f64()));
            }
            None => eprintln!(
                "cover: [{}] FAILED: {msg} ({:.1}s)",
                self.name,
                took.as_secs_f64()
            ),
        }
        took
    }
}

/// One line of a phase.
pub struct Item {
    phase: String,
    name: String,
    bar: Option<ProgressBar>,
    phase_bar: Option<ProgressBar>,
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
        let took = self.started.elapsed().as_secs_f64();
        match &self.bar {
            Some(b) => {
                let style = if ok {
                    "  {prefix:<12.green} {msg}"
                } else {
                    "  {prefix:<12.red} {msg}"
                };
                b.set_style(ProgressStyle::with_template(style).expect("valid template"));
                let text = format!("{msg} ({took:.1}s)");
                if ok {
                    b.finish_with_message(text);
                } else {
                    b.abandon_with_message(text);
                }
            }
            None => eprintln!(
                "cover: [{}] {}: {}{msg} ({took:.1}s)",
                self.phase,
                self.name,
                if ok { "" } else { "FAILED: " }
            ),
        }
        if let Some(p) = &self.phase_bar {
            p.inc(1);
        }
    }
}
