//! The HTML page with a test map (`--test-map`): per source line, the tests
//! that ran it (a column beside the line numbers, the names in its
//! tooltip) with the lines only one test reaches marked; a table of tests
//! on the index; and a page per test listing the files it ran, each
//! opening that file. Added to the page covreport's html.rs writes, as a
//! second data element and script before `</body>`: the page works
//! unchanged without it.

use std::collections::BTreeMap;

use anyhow::Context;
use covcore::testmap::{self, TestMap};
use serde_json::{json, Value};

const JS: &str = include_str!("html/tests.js");
const CSS: &str = include_str!("html/tests.css");

/// The page with the tests' data and script inserted before `</body>`.
pub fn embed(page: Vec<u8>, map: &TestMap) -> anyhow::Result<Vec<u8>> {
    let data = script_json(&data(map)?)?;
    let page = String::from_utf8(page).context("the HTML page is not UTF-8")?;
    let at = page
        .rfind("</body>")
        .context("the HTML page has no </body>")?;
    let mut out = String::with_capacity(page.len() + data.len() + JS.len() + CSS.len() + 200);
    out.push_str(&page[..at]);
    out.push_str("<style>\n");
    out.push_str(CSS);
    out.push_str("</style>\n<script type=\"application/json\" id=\"tests\">");
    out.push_str(&data);
    out.push_str("</script>\n<script>\n");
    out.push_str(JS);
    out.push_str("</script>\n");
    out.push_str(&page[at..]);
    Ok(out.into_bytes())
}

/// JSON safe inside a `<script>` element: `<`, `>` and `&` as `\u003c`,
/// `\u003e` and `\u0026` (only ever inside JSON strings), so no text can
/// end the element or open a comment.
pub fn script_json(v: &Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string(v)?
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

/// `owners`: [label, result, is a test, statements, only-its statements];
/// `lines`: per profile path, [line, owner…] for every line some owner ran;
/// `files`: per owner, [profile path, statements it ran there].
fn data(map: &TestMap) -> anyhow::Result<Value> {
    let owners = map.owners()?;
    let sets: Vec<_> = owners.iter().map(|o| o.blocks.clone()).collect();
    let only = testmap::only(&sets);
    let mut lines: BTreeMap<u32, BTreeMap<u32, Vec<usize>>> = BTreeMap::new();
    let mut files = Vec::new();
    for (i, o) in owners.iter().enumerate() {
        for (f, ls) in map.lines(&o.blocks) {
            let per = lines.entry(f).or_default();
            for l in ls {
                per.entry(l).or_default().push(i);
            }
        }
        let mut per_file: BTreeMap<u32, u64> = BTreeMap::new();
        for &(f, b) in &o.blocks {
            *per_file.entry(f).or_default() += map.files[f as usize].block(b as usize).1 as u64;
        }
        files.push(
            per_file
                .into_iter()
                .map(|(f, n)| json!([map.files[f as usize].path, n]))
                .collect::<Vec<_>>(),
        );
    }
    Ok(json!({
        "owners": owners.iter().enumerate().map(|(i, o)| json!([
            o.label,
            o.result,
            o.test.is_some(),
            map.statements(&o.blocks),
            map.statements(&only[i]),
            o.test.map_or(0.0, |t| map.tests[t].duration_ms),
        ])).collect::<Vec<_>>(),
        "lines": lines.into_iter().map(|(f, per)| {
            let rows: Vec<Value> = per.into_iter().map(|(l, os)| {
                let mut row = vec![json!(l)];
                row.extend(os.into_iter().map(|o| json!(o)));
                Value::Array(row)
            }).collect();
            (map.files[f as usize].path.clone(), Value::Array(rows))
        }).collect::<serde_json::Map<String, Value>>(),
        "files": files,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn script_data_cannot_end_the_element() {
        let v = serde_json::json!({"name": "</script><!-- & >"});
        let s = super::script_json(&v).unwrap();
        assert!(
            !s.contains('<') && !s.contains('>') && !s.contains('&'),
            "{s}"
        );
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }
}
