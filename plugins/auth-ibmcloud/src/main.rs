//! The `vault-plugin-auth-ibmcloud` binary: serves the IBM Cloud auth method.

fn main() -> std::process::ExitCode {
    vault_plugin_sdk::serve(vault_plugin_sdk::plugin_version!(), auth_ibmcloud::factory)
}
