//! lcov's tracefile format (geninfo(1)): what Codecov, Coveralls and
//! genhtml read. Lines by the rule in [`crate::model`]; with `--src`, the
//! functions too (FNDA is 1 when any statement of the function ran: a Go
//! profile counts blocks, not calls).

use std::io::Write;

use crate::model::Report;

pub fn write(report: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(1 << 16);
    buf.extend_from_slice(b"TN:\n");
    for f in &report.files {
        buf.extend_from_slice(b"SF:");
        buf.extend_from_slice(f.shown.as_bytes());
        buf.push(b'\n');
        if !f.funcs.is_empty() {
            let names = unique_names(f);
            for (func, name) in f.funcs.iter().zip(&names) {
                writeln!(buf, "FN:{},{name}", func.line)?;
            }
            for (func, name) in f.funcs.iter().zip(&names) {
                writeln!(buf, "FNDA:{},{name}", u32::from(func.covered > 0))?;
            }
            writeln!(buf, "FNF:{}", f.funcs.len())?;
            writeln!(
                buf,
                "FNH:{}",
                f.funcs.iter().filter(|x| x.covered > 0).count()
            )?;
        }
        for (line, hits) in f.lines.iter().flat_map(|r| r.lines()) {
            buf.extend_from_slice(b"DA:");
            covcore::output::push_u32(&mut buf, line);
            buf.push(b',');
            covcore::output::push_u32(&mut buf, hits);
            buf.push(b'\n');
            // A block may span any number of lines: stream them.
            if buf.len() > 1 << 20 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
        let t = f.line_totals();
        writeln!(buf, "LF:{}\nLH:{}\nend_of_record", t.statements, t.covered)?;
        if buf.len() > 1 << 20 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    Ok(())
}

/// Function names unique within the file (lcov keys functions by name; two
/// methods `String` on different types would collide): a repeated name gets
/// `@line`.
pub fn unique_names(f: &crate::model::FileReport) -> Vec<String> {
    let mut seen = std::collections::HashMap::new();
    for func in &f.funcs {
        *seen.entry(func.name.as_str()).or_insert(0) += 1;
    }
    f.funcs
        .iter()
        .map(|func| {
            if seen[func.name.as_str()] > 1 {
                format!("{}@{}", func.name, func.line)
            } else {
                func.name.clone()
            }
        })
        .collect()
}
