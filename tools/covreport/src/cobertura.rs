//! Cobertura XML (coverage-04.dtd, in the repository as
//! tests/fixtures/coverage-04.dtd): what GitLab merge requests, Jenkins and
//! diff-cover read. A package is a Go package (directory), a class is a
//! file. Lines by the rule in [`crate::model`]; line-rate is over those
//! lines. With `--src`, methods are the file's functions (their line-rate is
//! the statement rate `go tool cover -func` prints) and `<source>` is DIR.
//! A path holding a character XML 1.0 cannot carry (most control
//! characters) is an error naming it: no file is written.

use std::io::Write;

use covcore::total::Totals;

use crate::model::Report;
use crate::{rate, xml_escape};

pub fn write(report: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    let all = report.line_totals();
    let timestamp = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| s * 1000)
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        });
    // Every package and class name below is part of a path: a path XML
    // cannot carry is refused whole, before anything is written.
    for f in &report.files {
        xml_escape(&f.path)?;
        xml_escape(&f.shown)?;
    }
    let mut buf = String::with_capacity(1 << 16);
    buf.push_str("<?xml version=\"1.0\" ?>\n");
    buf.push_str(
        "<!DOCTYPE coverage SYSTEM \"http://cobertura.sourceforge.net/xml/coverage-04.dtd\">\n",
    );
    buf.push_str(&format!(
        "<coverage line-rate=\"{}\" branch-rate=\"0\" lines-covered=\"{}\" lines-valid=\"{}\" branches-covered=\"0\" branches-valid=\"0\" complexity=\"0\" version=\"covreport {}\" timestamp=\"{timestamp}\">\n",
        rate(&all),
        all.covered,
        all.statements,
        env!("CARGO_PKG_VERSION"),
    ));
    if let Some(root) = &report.src {
        let dir = std::fs::canonicalize(&root.dir).unwrap_or_else(|_| root.dir.clone());
        buf.push_str(&format!(
            "<sources><source>{}</source></sources>\n",
            xml_escape(&dir.to_string_lossy())?
        ));
    }
    buf.push_str("<packages>\n");
    let mut i = 0;
    while i < report.files.len() {
        let pkg = report.files[i].package();
        let end = i + report.files[i..]
            .iter()
            .take_while(|f| f.package() == pkg)
            .count();
        let files = &report.files[i..end];
        let mut t = Totals::default();
        for f in files {
            let l = f.line_totals();
            t.add(l.covered, l.statements);
        }
        buf.push_str(&format!(
            "<package name=\"{}\" line-rate=\"{}\" branch-rate=\"0\" complexity=\"0\">\n<classes>\n",
            xml_escape(pkg)?,
            rate(&t)
        ));
        for f in files {
            let name = f.path.rsplit('/').next().unwrap_or(&f.path);
            buf.push_str(&format!(
                "<class name=\"{}\" filename=\"{}\" line-rate=\"{}\" branch-rate=\"0\" complexity=\"0\">\n<methods>",
                xml_escape(name)?,
                xml_escape(&f.shown)?,
                rate(&f.line_totals())
            ));
            for func in &f.funcs {
                buf.push_str(&format!(
                    "<method name=\"{}\" signature=\"\" line-rate=\"{}\" branch-rate=\"0\" complexity=\"0\"><lines/></method>",
                    xml_escape(&func.name)?,
                    rate(&Totals {
                        covered: func.covered,
                        statements: func.statements
                    })
                ));
            }
            buf.push_str("</methods>\n<lines>\n");
            for (line, hits) in f.lines.iter().flat_map(|r| r.lines()) {
                buf.push_str("<line number=\"");
                buf.push_str(&line.to_string());
                buf.push_str("\" hits=\"");
                buf.push_str(&hits.to_string());
                buf.push_str("\" branch=\"false\"/>\n");
                // A block may span any number of lines: stream them.
                if buf.len() > 1 << 20 {
                    out.write_all(buf.as_bytes())?;
                    buf.clear();
                }
            }
            buf.push_str("</lines>\n</class>\n");
            if buf.len() > 1 << 20 {
                out.write_all(buf.as_bytes())?;
                buf.clear();
            }
        }
        buf.push_str("</classes>\n</package>\n");
        i = end;
    }
    buf.push_str("</packages>\n</coverage>\n");
    out.write_all(buf.as_bytes())?;
    Ok(())
}
