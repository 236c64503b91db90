//! The `vault-plugin-secrets-balena` binary: serves the balena secrets engine.

fn main() -> std::process::ExitCode {
    vault_plugin_sdk::serve(vault_plugin_sdk::plugin_version!(), secrets_balena::factory)
}
