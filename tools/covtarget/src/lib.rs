//! Coverage targets and the exec transport shared by covkill and covpull.
//!
//! - [`target`]: the target forms (`docker:NAME`, `k8s:NS/POD[:C]`,
//!   `k8s-selector:NS/SEL[:C]`, `local:ADDR=DIR`, `dir:DIR`, `swarm:SERVICE`) and their
//!   canonical text, which covkill prints and covpull reads back;
//! - [`exec`]: one transport for containers and pods, a Docker exec (the
//!   Engine API, or the CLI) or `kubectl exec … --`, running the same
//!   `sh -c` scripts;
//! - [`ops`]: ask the harness to stop (then wait for the new `cover-<n>.out`
//!   or `covcounters.*`), snapshot or reset ([`ops::ask`]); fetch every
//!   complete profile and binary coverage file, after a snapshot if asked,
//!   in one round trip ([`ops::fetch`], [`ops::fetch_snapshot`]);
//! - [`drive`]: the bounded parallel run loop both tools share;
//! - [`docker`]: the one way the project drives Docker (the CLI, and the
//!   Engine API on its socket);
//! - [`http`]: the one HTTP client (GET with a timeout: status, headers, body);
//! - [`programs`]: `docker` and `kubectl` from PATH, under both.

pub mod docker;
pub mod drive;
pub mod exec;
pub mod http;
pub mod ops;
pub mod programs;
pub mod target;

pub use drive::{drive, Report, Settings};
pub use ops::{Fetched, Killed, Options, Profile};
pub use target::{parse_duration, Target, FORMS_HELP};
