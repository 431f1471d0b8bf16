//! `--set KEY=VALUE`: one configuration key overridden on the parsed file.

use anyhow::{bail, Context};

/// Sets `key` (dotted; `service.NAME.…` picks a service by name) to
/// `value` (a TOML value, else a bare string) in a parsed configuration.
pub(super) fn apply_override(
    table: &mut toml::Table,
    key: &str,
    value: &str,
    bare: bool,
) -> anyhow::Result<()> {
    let value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
        Ok(mut t) if !bare => t.remove("v").expect("parsed"),
        _ => toml::Value::String(value.to_string()),
    };
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("expected a dotted key such as gates.min or service.NAME.ready");
    }
    let mut here = table;
    let mut i = 0;
    while i + 1 < parts.len() {
        let part = parts[i];
        if part == "service" {
            let name = parts[i + 1];
            let services = here
                .get_mut("service")
                .and_then(|v| v.as_array_mut())
                .context("the configuration has no [[service]] entries")?;
            let names: Vec<String> = services
                .iter()
                .filter_map(|s| s.get("name")?.as_str().map(str::to_string))
                .collect();
            here = services
                .iter_mut()
                .find(|s| s.get("name").and_then(|n| n.as_str()) == Some(name))
                .and_then(|s| s.as_table_mut())
                .with_context(|| format!("no service {name:?} (services: {})", names.join(", ")))?;
            i += 2;
            if i == parts.len() {
                bail!("expected service.{name}.KEY");
            }
            continue;
        }
        let entry = here
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        here = entry
            .as_table_mut()
            .with_context(|| format!("{} is not a table", parts[..=i].join(".")))?;
        i += 1;
    }
    here.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}
