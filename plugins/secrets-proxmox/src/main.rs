//! The `vault-plugin-secrets-proxmox` binary: serves the Proxmox VE secrets engine.

fn main() -> std::process::ExitCode {
    vault_plugin_sdk::serve(
        vault_plugin_sdk::plugin_version!(),
        secrets_proxmox::factory,
    )
}
