//! Page skeletons kept as files beside their CSS and JS (`html/`): text
//! with `{{NAME}}` where a value goes, filled in one pass, so that a value
//! holding `{{…}}` itself (a path, a line of source) is written as it is.

use std::io::Write;

/// Writes `template` with each `{{NAME}}` replaced by its value in
/// `values`; a name not in `values` is an error (a skeleton and its code
/// out of step).
pub fn fill(template: &str, values: &[(&str, &str)], out: &mut dyn Write) -> anyhow::Result<()> {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        let name = &rest[start + 2..start + 2 + len];
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| anyhow::anyhow!("template: no value for {{{{{name}}}}}"))?;
        out.write_all(&rest.as_bytes()[..start])?;
        out.write_all(value.as_bytes())?;
        rest = &rest[start + 2 + len + 2..];
    }
    out.write_all(rest.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_written_once_as_they_are() {
        let mut out = Vec::new();
        super::fill(
            "<p>{{A}} and {{B}}{{A}}</p>\n",
            &[("A", "{{B}}"), ("B", "b")],
            &mut out,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "<p>{{B}} and b{{B}}</p>\n");
        let err = super::fill("{{C}}", &[], &mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "template: no value for {{C}}");
    }

    #[test]
    fn the_html_skeleton_names_only_what_the_page_fills_in() {
        let names = [
            "PERCENT",
            "CSS",
            "COVERED",
            "STATEMENTS",
            "MODE",
            "DATA",
            "JS",
        ];
        let values: Vec<(&str, &str)> = names.iter().map(|n| (*n, "")).collect();
        super::fill(include_str!("html/report.html"), &values, &mut Vec::new()).unwrap();
    }
}
