//! The `vault-plugin-example-kv` binary: serves the example backend.

fn main() -> std::process::ExitCode {
    vault_plugin_sdk::serve(vault_plugin_sdk::plugin_version!(), example_kv::factory)
}
