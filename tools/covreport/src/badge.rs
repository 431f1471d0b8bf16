//! An SVG badge `coverage | 81.2%`, coloured by thresholds (the flat style
//! of shields.io, drawn here: nothing is fetched).

use std::io::Write;

use crate::model::Report;

pub fn write(report: &Report, green: f64, yellow: f64, out: &mut dyn Write) -> anyhow::Result<()> {
    let shown = report.totals().percent_str();
    let p: f64 = shown.parse().expect("formatted float");
    let colour = if p >= green {
        "#4c1"
    } else if p >= yellow {
        "#dfb317"
    } else {
        "#e05d44"
    };
    let value = format!("{shown}%");
    // Verdana 11px averages ~7 px a character; the label is fixed.
    let (lw, vw) = (61u32, 10 + 7 * value.len() as u32);
    let w = lw + vw;
    let (lx, vx) = (lw * 10 / 2, lw * 10 + vw * 10 / 2);
    write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="coverage: {value}">
<title>coverage: {value}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{colour}"/><rect width="{w}" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="110">
<text x="{lx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)">coverage</text><text x="{lx}" y="140" transform="scale(.1)">coverage</text>
<text x="{vx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)">{value}</text><text x="{vx}" y="140" transform="scale(.1)">{value}</text>
</g>
</svg>
"##
    )?;
    Ok(())
}
