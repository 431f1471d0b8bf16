//! Coverage targets and the exec transport shared by covkill and covpull.
//!
//! - [`target`]: the target forms (`docker:NAME`, `k8s:NS/POD[:C]`,
//!   `k8s-selector:NS/SEL[:C]`, `local:ADDR=DIR`, `dir:DIR`) and their
//!   canonical text, which covkill prints and covpull reads back;
//! - [`exec`]: one transport for containers and pods, `docker exec …` or
//!   `kubectl exec … --` in front of the same `sh -c` scripts;
//! - [`ops`]: kill (killswitch, then wait for the new `cover-<n>.out`) and
//!   fetch (every complete profile in one round-trip);
//! - [`drive`]: the bounded parallel run loop both tools share;
//! - [`docker`]: the one way the project drives Docker (the CLI, and the
//!   Engine API on its socket);
//! - [`http`]: the one HTTP client (GET with a timeout: status, headers, body).

pub mod docker;
pub mod drive;
pub mod exec;
pub mod http;
pub mod ops;
pub mod target;

pub use drive::{drive, Report, Settings};
pub use ops::{Fetched, Killed, Options, Profile};
pub use target::{parse_duration, Target, FORMS_HELP};
