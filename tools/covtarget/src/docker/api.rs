//! The Docker Engine API's JSON, typed: the parts of its answers covtools
//! reads (an inspect object, an exec's id and state, an error message) and
//! the bodies it sends. `docker inspect` on the CLI prints the same
//! objects. Fields the engine may leave out or send as `null` default.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// A container's inspect object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    #[serde(default)]
    pub state: ContainerState,
    #[serde(default)]
    pub config: ContainerConfig,
    #[serde(default)]
    pub network_settings: NetworkSettings,
    #[serde(default, deserialize_with = "null_default")]
    pub mounts: Vec<Mount>,
}

/// One of a container's mounts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Mount {
    /// `volume`, `bind`, `tmpfs`, …
    #[serde(default)]
    pub r#type: String,
    /// A volume's name (anonymous volumes have one too).
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    /// `created`, `running`, `exited`, `removing`, `dead`, …
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub running: bool,
    pub exit_code: Option<i64>,
    /// Its health check's state, when it has one.
    #[serde(default)]
    pub health: Option<Health>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    #[serde(default)]
    pub status: String,
    /// The last checks, oldest first.
    #[serde(default, deserialize_with = "null_default")]
    pub log: Vec<HealthCheck>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheck {
    #[serde(default)]
    pub exit_code: i64,
    #[serde(default)]
    pub output: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// `KEY=value` lines.
    #[serde(default, deserialize_with = "null_default")]
    pub env: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// By network name.
    #[serde(default, deserialize_with = "null_default")]
    pub networks: BTreeMap<String, Endpoint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Endpoint {
    #[serde(rename = "IPAddress", default)]
    pub ip_address: String,
}

/// `POST /containers/{id}/exec`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecCreate<'a> {
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub cmd: &'a [&'a str],
}

/// `POST /exec/{id}/start`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStart {
    pub detach: bool,
    pub tty: bool,
}

/// The answer to a create: the new object's id.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Created {
    pub id: String,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecState {
    #[serde(default)]
    pub running: bool,
    pub exit_code: Option<i64>,
}

/// An error answer (`{"message": "No such container: x"}`).
#[derive(Debug, Deserialize)]
pub struct ErrorMessage {
    pub message: String,
}

/// `null` read as the type's default (the engine sends `"Env": null`).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_objects_read_with_nulls_and_missing_fields() {
        let c: Container = serde_json::from_str(
            r#"{"Id": "x", "State": {"Status": "exited", "Running": false, "ExitCode": 137},
                "Config": {"Env": null},
                "NetworkSettings": {"Networks": {"b": {"IPAddress": "172.17.0.2", "Gateway": ""}}}}"#,
        )
        .unwrap();
        assert_eq!(c.state.status, "exited");
        assert_eq!(c.state.exit_code, Some(137));
        assert!(c.config.env.is_empty());
        assert_eq!(c.network_settings.networks["b"].ip_address, "172.17.0.2");
        let empty: Container = serde_json::from_str("{}").unwrap();
        assert!(!empty.state.running && empty.network_settings.networks.is_empty());
        let body = serde_json::to_string(&ExecCreate {
            attach_stdout: true,
            attach_stderr: true,
            tty: false,
            cmd: &["sh", "-c", "x"],
        })
        .unwrap();
        assert_eq!(
            body,
            r#"{"AttachStdout":true,"AttachStderr":true,"Tty":false,"Cmd":["sh","-c","x"]}"#
        );
    }
}
