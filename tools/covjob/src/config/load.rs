//! Reading `covtools.toml`: the file, its `--set` overrides, and the
//! defaults filled in after parsing.

use std::fs;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use super::set::apply_override;
use super::{module_path, Config, TestsOrPhases, CONFIG_FILE};

impl Config {
    /// Reads `<module_dir>/covtools.toml`.
    pub fn load(module_dir: &Path) -> anyhow::Result<Config> {
        Config::load_file(&module_dir.join(CONFIG_FILE))
    }

    /// Reads a configuration file; the module root is its directory.
    pub fn load_file(file: &Path) -> anyhow::Result<Config> {
        let text =
            fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let module_dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        Config::parse(&text, file, &module_dir)
    }

    /// Parses configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path, module_dir: &Path) -> anyhow::Result<Config> {
        Config::parse_with(text, file, module_dir, &[])
    }

    /// Parses configuration text with `KEY=VALUE` overrides applied on top
    /// (`covtools cover --set`), e.g. `gates.min=80`,
    /// `service.catalog.ready=/healthz`, `tests.args=["-gateway", "{url:gateway}"]`.
    /// A service is addressed by its name; VALUE is a TOML value, or a bare
    /// string. An override is checked like the file: an unknown key or a
    /// bad value is an error naming it.
    pub fn parse_with(
        text: &str,
        file: &Path,
        module_dir: &Path,
        overrides: &[(String, String)],
    ) -> anyhow::Result<Config> {
        let toml_error = |e: toml::de::Error| {
            // toml's message spans several lines (a source excerpt); keep
            // the line number and the line itself, which names the key.
            // An error inside [tests] (read through an untagged enum)
            // names its key on a line of its own: one line.
            let msg = e.message().trim().replace('\n', " ");
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    let source = text.lines().nth(line - 1).unwrap_or("").trim();
                    format!(":{line}: {source}")
                })
                .unwrap_or_default();
            anyhow::anyhow!("{}{at}: {msg}", file.display())
        };
        // The file alone first, so that its errors keep their line.
        let mut config: Config = toml::from_str(text).map_err(toml_error)?;
        if !overrides.is_empty() {
            let mut table: toml::Table = toml::from_str(text).map_err(toml_error)?;
            // One at a time, so that an error names the override at fault.
            for (key, value) in overrides {
                let mut typed = table.clone();
                apply_override(&mut typed, key, value, false)
                    .with_context(|| format!("--set {key}={value}"))?;
                config = match Config::deserialize(toml::Value::Table(typed.clone())) {
                    Ok(c) => {
                        table = typed;
                        c
                    }
                    Err(e) => {
                        // VALUE read as TOML did not fit (env.PORT=8080 is
                        // an integer): try it as the bare string it also is.
                        let mut bare = table.clone();
                        apply_override(&mut bare, key, value, true)?;
                        let c = Config::deserialize(toml::Value::Table(bare.clone())).map_err(
                            |_| anyhow::anyhow!("--set {key}={value}: {}", e.message().trim()),
                        )?;
                        table = bare;
                        c
                    }
                };
            }
        }
        config.module_dir = module_dir.to_path_buf();
        config.module_path = module_path(module_dir)?;
        match config.tests_spec.take() {
            Some(TestsOrPhases::One(t)) => config.tests = Some(t),
            Some(TestsOrPhases::Phases(p)) => config.phases = p,
            None => {}
        }
        if config.build.cover_mode.is_empty() {
            config.build.cover_mode = config.build.kind.default_cover_mode().into();
        }
        config
            .validate()
            .with_context(|| file.display().to_string())?;
        Ok(config)
    }
}
