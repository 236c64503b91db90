//! The `vault-plugin-example-auth` binary: serves the example auth method.

fn main() -> std::process::ExitCode {
    vault_plugin_sdk::serve(vault_plugin_sdk::plugin_version!(), example_auth::factory)
}
