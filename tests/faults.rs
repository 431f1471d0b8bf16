//! Cases an adversarial run of the tools found wrong, each through the real
//! binaries with the real oracle of its area: Chromium's HTML parser,
//! xmllint, git under the configurations users have, Go's `go tool covdata`,
//! signals sent from outside.

mod diff;
mod inputs;
mod report;
mod signals;
