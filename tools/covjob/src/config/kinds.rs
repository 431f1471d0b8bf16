//! The kinds a configuration chooses among: how services are built, how a
//! test phase is described, which reports are written. Plain data with
//! their checks, so that the configuration stays a leaf.

use std::collections::BTreeMap;

use anyhow::bail;
use serde::Deserialize;

/// How the services are built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildKind {
    /// `go test -c -cover`: a text profile when the service stops.
    #[default]
    Test,
    /// `go build -cover` of the real main: Go's binary coverage, live
    /// snapshots and resets in atomic mode.
    Cover,
}

impl BuildKind {
    pub fn name(self) -> &'static str {
        match self {
            BuildKind::Test => "test",
            BuildKind::Cover => "cover",
        }
    }

    /// The -covermode when the configuration sets none: live snapshots need
    /// atomic, which only the cover kind can take.
    pub fn default_cover_mode(self) -> &'static str {
        match self {
            BuildKind::Test => "count",
            BuildKind::Cover => "atomic",
        }
    }

    /// Can a binary of this kind and mode take live snapshots and resets?
    pub fn can_snapshot(self, cover_mode: &str) -> bool {
        self == BuildKind::Cover && cover_mode == "atomic"
    }
}

impl std::str::FromStr for BuildKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<BuildKind> {
        match s {
            "test" => Ok(BuildKind::Test),
            "cover" => Ok(BuildKind::Cover),
            _ => bail!("build kind {s:?}: expected test or cover"),
        }
    }
}

/// Coverage per test (`[tests] per_test`): off, per top-level test
/// (`true`), or per subtest too (`"subtests"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PerTest {
    #[default]
    Off,
    Tests,
    /// A `go test` suite's subtests, each alone as well.
    Subtests,
}

impl PerTest {
    pub fn on(self) -> bool {
        self != PerTest::Off
    }
}

impl std::str::FromStr for PerTest {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<PerTest> {
        match s {
            "true" | "tests" => Ok(PerTest::Tests),
            "false" => Ok(PerTest::Off),
            "subtests" => Ok(PerTest::Subtests),
            _ => bail!("per_test {s:?}: expected true, false or \"subtests\""),
        }
    }
}

impl<'de> Deserialize<'de> for PerTest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PerTest, D::Error> {
        // A visitor of its own (not an untagged enum), so that an error
        // keeps the value's place in the file.
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PerTest;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or \"subtests\"")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<PerTest, E> {
                Ok(if v { PerTest::Tests } else { PerTest::Off })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PerTest, E> {
                match v {
                    "subtests" => Ok(PerTest::Subtests),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// One `[[tests]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseConfig {
    /// The phase's name (letters, digits, `-`, `_`): `smoke`, `api`, ….
    pub name: String,
    /// The command, run on the host in the module directory (placeholders
    /// as for `[tests]`).
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Every format and the file it is written to, in the order written.
pub const REPORT_FORMATS: &[(&str, &str)] = &[
    ("lcov", "lcov.info"),
    ("cobertura", "cobertura.xml"),
    ("html", "report.html"),
    ("markdown", "summary.md"),
    ("badge", "badge.svg"),
];

/// Checks `[report] formats` (or `--reports`): known names, or `none`.
pub fn check_formats(formats: &[String]) -> anyhow::Result<()> {
    for f in formats {
        if f != "none" && !REPORT_FORMATS.iter().any(|(name, _)| name == f) {
            bail!(
                "report.formats: unknown format {f:?}: expected some of {} (or none)",
                REPORT_FORMATS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(())
}
