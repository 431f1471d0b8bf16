//! The input shape the merge and report targets share: one byte of flags,
//! then profiles separated by the line `--`.

use std::sync::Arc;

use covcore::input::Input;

/// Splits at lines that are exactly `--`.
pub fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(b"\n--\n") {
            parts.push(&data[start..=i]);
            start = i + 4;
            i = start;
        } else {
            i += 1;
        }
    }
    parts.push(&data[start..]);
    parts
}

/// The profiles as inputs held in memory, named `in0`, `in1`…
pub fn inputs(profiles: &[&[u8]]) -> Vec<Input> {
    profiles
        .iter()
        .enumerate()
        .map(|(i, p)| Input::Memory(format!("in{i}"), Arc::from(*p)))
        .collect()
}
