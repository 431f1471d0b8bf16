//! The JSON report (schema in docs/how-it-works.md): the total, then per package its
//! files and, with `--src`, their functions; statement figures are
//! covtotal's, line figures follow the rule in [`crate::model`].

use std::io::Write;

use covcore::total::Totals;
use serde_json::{json, Value};

use crate::model::Report;

fn figures(t: &Totals) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("covered".into(), json!(t.covered));
    m.insert("statements".into(), json!(t.statements));
    m.insert("percent".into(), percent(t));
    m
}

/// The one-decimal percent covtotal prints, as a JSON number.
fn percent(t: &Totals) -> Value {
    serde_json::from_str(&t.percent_str()).expect("a decimal number")
}

fn lines(t: &Totals) -> Value {
    json!({"covered": t.covered, "total": t.statements})
}

pub fn write(report: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut packages = Vec::new();
    for (pkg, t) in report.packages() {
        let mut files = Vec::new();
        for f in report.files.iter().filter(|f| f.package() == pkg) {
            let mut o = serde_json::Map::new();
            o.insert("file".into(), json!(f.path));
            if f.shown != f.path {
                o.insert("source".into(), json!(f.shown));
            }
            o.extend(figures(&f.totals));
            o.insert("lines".into(), lines(&f.line_totals()));
            if report.src.is_some() {
                let funcs: Vec<Value> = f
                    .funcs
                    .iter()
                    .map(|func| {
                        let mut m = serde_json::Map::new();
                        m.insert("function".into(), json!(func.name));
                        m.insert("line".into(), json!(func.line));
                        m.extend(figures(&Totals {
                            covered: func.covered,
                            statements: func.statements,
                        }));
                        Value::Object(m)
                    })
                    .collect();
                o.insert("functions".into(), Value::Array(funcs));
            }
            files.push(Value::Object(o));
        }
        let mut p = serde_json::Map::new();
        p.insert("package".into(), json!(pkg));
        p.extend(figures(&t));
        p.insert("files".into(), Value::Array(files));
        packages.push(Value::Object(p));
    }
    let mut root = serde_json::Map::new();
    root.insert("mode".into(), json!(report.mode.as_str()));
    root.extend(figures(&report.totals()));
    root.insert("lines".into(), lines(&report.line_totals()));
    root.insert("packages".into(), Value::Array(packages));
    serde_json::to_writer(&mut *out, &Value::Object(root))?;
    out.write_all(b"\n")?;
    Ok(())
}
