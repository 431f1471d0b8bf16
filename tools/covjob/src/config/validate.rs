//! The checks a parsed configuration passes before anything uses it.

use std::collections::BTreeMap;

use anyhow::{bail, Context};

use super::render::render;
use super::Config;

impl Config {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if let Some(formats) = &self.report.formats {
            super::check_formats(formats)?;
        }
        if self.gates.diff_min.is_some() && self.gates.diff_base.is_none() {
            bail!("gates.diff_min needs gates.diff_base (--diff-base REF)");
        }
        if !["set", "count", "atomic"].contains(&self.build.cover_mode.as_str()) {
            bail!(
                "build.cover_mode = {:?}: expected set, count or atomic",
                self.build.cover_mode
            );
        }
        if self.services.is_empty() {
            bail!("no [[service]] entries");
        }
        let mut seen = BTreeMap::new();
        for (i, s) in self.services.iter().enumerate() {
            check_name(&s.name).with_context(|| format!("service[{i}].name"))?;
            if seen.insert(s.name.as_str(), i).is_some() {
                bail!("service[{i}].name = {:?} is used twice", s.name);
            }
            if s.package.is_empty() {
                bail!("service[{i}].package is empty ({})", s.name);
            }
            if s.port == 0 {
                bail!("service[{i}].port must not be 0 ({})", s.name);
            }
            if let Some(ready) = &s.ready {
                if !ready.starts_with('/') {
                    bail!("service[{i}].ready = {ready:?}: expected an HTTP path starting with /");
                }
            }
            if let Some(w) = &s.workdir {
                let dir = self.module_dir.join(w);
                if w.is_absolute() || !dir.is_dir() {
                    bail!(
                        "service[{i}].workdir = {:?}: expected a directory inside the module ({})",
                        w.display().to_string(),
                        s.name
                    );
                }
            }
            if let Some(r) = s.replicas {
                if !(1..=100).contains(&r) {
                    bail!(
                        "service[{i}].replicas = {r}: expected 1 to 100 ({})",
                        s.name
                    );
                }
            }
            if let Some(t) = &s.harness_test {
                if !t.starts_with("Test")
                    || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    bail!(
                        "service[{i}].harness_test = {t:?}: expected a Go test name like TestRun"
                    );
                }
            }
        }
        // Every {url:NAME} must name a service.
        let urls: BTreeMap<String, String> = self
            .services
            .iter()
            .map(|s| (s.name.clone(), String::new()))
            .collect();
        for s in &self.services {
            s.render_args("", &urls)
                .with_context(|| format!("service {}", s.name))?;
            s.render_env("", &urls)
                .with_context(|| format!("service {}", s.name))?;
        }
        if let Some(t) = &self.tests {
            if t.package.is_some() == t.command.is_some() {
                bail!("[tests]: set exactly one of package and command");
            }
            for a in &t.args {
                render(a, "", &urls).context("tests.args")?;
            }
            for a in t.command.iter().flatten() {
                render(a, "", &urls).context("tests.command")?;
            }
            if t.command.as_ref().is_some_and(|c| c.is_empty()) {
                bail!("tests.command is empty");
            }
            for (k, v) in &t.env {
                render(v, "", &urls).with_context(|| format!("tests.env.{k}"))?;
            }
            if let Some(r) = &t.run_in {
                self.check_run_in(r)?;
            }
        }
        if let Some(r) = &self.run.runtime {
            if !RUNTIMES.contains(&r.as_str()) {
                bail!("run.runtime = {r:?}: expected {}", RUNTIMES.join(", "));
            }
        }
        if let Some(t) = self.run.ready_timeout {
            if !(t > 0.0 && t.is_finite()) {
                bail!("run.ready_timeout = {t}: expected a positive number of seconds");
            }
        }
        if let Some(min) = self.gates.min {
            if !(0.0..=100.0).contains(&min) {
                bail!("gates.min = {min}: expected a percentage from 0 to 100");
            }
        }
        if let Some(d) = self.gates.max_drop {
            if !(d >= 0.0 && d.is_finite()) {
                bail!("gates.max_drop = {d}: expected a non-negative number of points");
            }
            if self.gates.baseline.is_none() {
                bail!("gates.max_drop needs gates.baseline");
            }
        }
        Ok(())
    }

    /// `tests.run_in` (or `--tests-in`): `host`, `container` or
    /// `service:NAME` (in service NAME's own container).
    pub fn check_run_in(&self, r: &str) -> anyhow::Result<()> {
        match r.strip_prefix("service:") {
            Some(name) if self.service(name).is_some() => Ok(()),
            Some(name) => bail!("tests.run_in = {r:?}: no service {name:?}"),
            None if ["host", "container"].contains(&r) => Ok(()),
            None => bail!("tests.run_in = {r:?}: expected host, container or service:NAME"),
        }
    }
}

/// The values of `run.runtime`.
pub const RUNTIMES: [&str; 4] = ["docker", "local", "swarm", "compose"];

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if !ok {
        bail!("{name:?}: expected lowercase letters, digits and -, as in a container name");
    }
    Ok(())
}
