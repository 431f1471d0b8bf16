//! `--include` / `--exclude`: which source files a merge keeps.

use anyhow::anyhow;

/// `--include` / `--exclude` glob patterns on the profile's file names.
/// `*` and `?` stay within one path component, `**` crosses them; a pattern
/// without `/` is matched against the file's base name (as in .gitignore).
/// A file is kept when it matches some include pattern (or there are none)
/// and no exclude pattern.
#[derive(Debug, Default, Clone)]
pub struct PathFilter {
    include: Vec<glob::Pattern>,
    exclude: Vec<glob::Pattern>,
}

impl PathFilter {
    pub fn new(include: &[String], exclude: &[String]) -> anyhow::Result<PathFilter> {
        let compile = |flag: &str, pats: &[String]| -> anyhow::Result<Vec<glob::Pattern>> {
            pats.iter()
                .map(|p| {
                    glob::Pattern::new(p)
                        .map_err(|e| anyhow!("{flag} {p:?}: invalid glob pattern: {e}"))
                })
                .collect()
        };
        Ok(PathFilter {
            include: compile("--include", include)?,
            exclude: compile("--exclude", exclude)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    pub fn keeps(&self, path: &str) -> bool {
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let base = path.rsplit('/').next().unwrap_or(path);
        let matches = |p: &glob::Pattern| {
            if p.as_str().contains('/') {
                p.matches_with(path, opts)
            } else {
                p.matches_with(base, opts)
            }
        };
        (self.include.is_empty() || self.include.iter().any(matches))
            && !self.exclude.iter().any(matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_basename_without_slash_and_paths_with() {
        let f = PathFilter::new(&[], &["*.pb.go".into(), "**/gen/**".into()]).unwrap();
        assert!(!f.keeps("example.com/m/api/x.pb.go"));
        assert!(!f.keeps("example.com/m/gen/y.go"));
        assert!(f.keeps("example.com/m/api/x.go"));
        let f = PathFilter::new(&["example.com/m/internal/**".into()], &[]).unwrap();
        assert!(f.keeps("example.com/m/internal/a/b.go"));
        assert!(!f.keeps("example.com/m/cmd/b.go"));
    }
}
