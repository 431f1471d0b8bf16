//! Writes every covreport format of a merged profile and checks: no panic,
//! no unbounded allocation (libFuzzer's RSS limit: a block may claim
//! billions of lines), and each output is what its readers need: JSON that
//! parses; an HTML page whose data block holds no `<` and parses back to
//! the same file names; XML with no character XML 1.0 cannot carry;
//! figures that agree between formats.
//!
//! Input: as the merge target's (one byte of flags, then profiles separated
//! by the line `--`, merged first); its seeds serve here too. lcov and
//! Cobertura print every line, so they are written only for profiles of at
//! most 100,000 lines (what they cost is output, not memory,
//! and the fuzzer is better spent on more inputs).
#![no_main]

mod profiles;

use covcore::merge::{self, Options};
use covreport::model::Report;
use covreport::{Extras, Format};
use libfuzzer_sys::fuzz_target;
use profiles::{inputs, split};

/// The characters XML 1.0 has no way to write.
fn unfit_for_xml(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

fn render(format: Format, report: &Report) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    covreport::write(format, report, &Extras::default(), &mut out)
        .ok()
        .map(|()| out)
}

fuzz_target!(|data: &[u8]| {
    let Some((_, rest)) = data.split_first() else {
        return;
    };
    let profiles = split(rest);
    if profiles.len() > 4 {
        return;
    }
    let Ok(merged) = merge::merge(&inputs(&profiles), &Options::default()) else {
        return;
    };
    let report = Report::new(&merged, None).expect("a report needs no source here");
    let lines = report.line_totals();

    let json = render(Format::Json, &report).expect("JSON is always written");
    let json: serde_json::Value = serde_json::from_slice(&json).expect("JSON that parses");
    assert_eq!(json["lines"]["total"], lines.statements);
    assert_eq!(json["statements"], report.totals().statements);

    let html = render(Format::Html, &report).expect("HTML is always written");
    let html = String::from_utf8(html).expect("UTF-8 HTML");
    let open = "<script type=\"application/json\" id=\"data\">";
    let body = &html[html.find(open).expect("a data block") + open.len()..];
    let body = &body[..body.find("</script>").expect("the data block's end")];
    assert!(!body.contains('<'), "a `<` in the data block");
    let data: serde_json::Value = serde_json::from_str(body).expect("data that parses");
    let names: Vec<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    let shown: Vec<&str> = data["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f[0].as_str().expect("a name"))
        .collect();
    assert_eq!(shown, names);

    render(Format::Markdown, &report).expect("Markdown is always written");
    render(Format::Badge, &report).expect("the badge is always written");

    if lines.statements <= 100_000 {
        let lcov = render(Format::Lcov, &report).expect("lcov is always written");
        let da = lcov
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"DA:"))
            .count();
        assert_eq!(da as u64, lines.statements, "lcov lists every line once");
        match render(Format::Cobertura, &report) {
            Some(xml) => {
                let xml = String::from_utf8(xml).expect("UTF-8 XML");
                assert!(
                    !xml.chars().any(unfit_for_xml),
                    "a character XML cannot carry"
                );
            }
            None => assert!(
                names.iter().any(|n| n.chars().any(unfit_for_xml)),
                "Cobertura refused names XML can carry"
            ),
        }
    }
});
