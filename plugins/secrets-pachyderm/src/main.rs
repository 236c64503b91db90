//! The `vault-plugin-secrets-pachyderm` binary: serves the Pachyderm secrets engine.

fn main() -> std::process::ExitCode {
    vault_plugin_sdk::serve(
        vault_plugin_sdk::plugin_version!(),
        secrets_pachyderm::factory,
    )
}
