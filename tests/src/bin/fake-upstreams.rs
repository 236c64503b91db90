//! The demo's fake upstream services, in one process: runs until killed.
//!
//! Prints one `<name>=<value>` line per service on stdout (then nothing
//! else), so `scripts/demo.sh` can configure the plugins against them:
//!
//! ```text
//! keys=http://127.0.0.1:40123
//! balena=http://127.0.0.1:40124
//! ibm_iam=http://127.0.0.1:40125
//! ibm_user_management=http://127.0.0.1:40125/user-management
//! ibm_account=demo-account
//! ibm_admin_key=0f3a...
//! ibm_app_key=9c1d...
//! ibm_app_subject=ServiceId-...
//! balena_session=eyJhbGciOi...
//! pachd=127.0.0.1:40125
//! pachd_root_token=0f3c...
//! proxmox=https://127.0.0.1:40126/api2/json
//! proxmox_token_secret=5d1e...
//! ```
//!
//! `balena_session` is a seven-day session token of the fake balena's demo
//! user `demo` (password `demo-password`), what an operator would paste
//! into a `secrets-balena` role. `pachd` is the fake pachd's gRPC address
//! and `pachd_root_token` its root token, the admin token of the
//! `secrets-pachyderm` demo mount. `proxmox` is the fake Proxmox API (HTTPS
//! with a generated CA: the demo sets `insecure_skip_tls_verify`), with user
//! `alice@pve` (PVEVMUser on `/vms`), and `proxmox_token_secret` the secret
//! of its `root@pam!vault` token, the config token of the `proxmox/` mount.
//! The `ibm_*` lines are the fake IBM Cloud IAM: the API key of its admin
//! service ID (for the `auth-ibmcloud` config), and the API key and subject
//! of an app service ID that logs in.

use std::io::Write;
use std::time::Duration;

use integration_tests::fake_balena::FakeBalena;
use integration_tests::fake_iam::{FakeIam, Identity};
use integration_tests::fake_keys::FakeKeyService;
use integration_tests::fake_pachd::FakePachd;
use integration_tests::fake_proxmox::FakeProxmox;

fn main() -> std::io::Result<()> {
    let keys = FakeKeyService::start()?;
    let balena = FakeBalena::start()?;
    balena.add_user("demo", "demo-password");
    let session = balena.session_token("demo", Duration::ZERO, Duration::from_secs(7 * 24 * 3600));
    let pachd = FakePachd::start()?;
    let iam = FakeIam::start_blocking()?;
    let account = "demo-account";
    let admin = Identity::service_id("vault-admin", account);
    let app = Identity::service_id("demo-app", account);
    iam.add_identity(&admin);
    iam.add_identity(&app);
    let admin_key = iam.create_api_key(&admin);
    let app_key = iam.create_api_key(&app);
    let proxmox = FakeProxmox::start()?;
    let proxmox_secret = proxmox.add_token("root@pam", "vault", false);
    proxmox.add_user("alice@pve");
    proxmox.grant("/vms", "alice@pve", "PVEVMUser");
    let mut out = std::io::stdout().lock();
    writeln!(out, "keys={}", keys.url())?;
    writeln!(out, "balena={}", balena.url())?;
    writeln!(out, "ibm_iam={}", iam.url())?;
    writeln!(out, "ibm_user_management={}", iam.user_management_url())?;
    writeln!(out, "ibm_account={account}")?;
    writeln!(out, "ibm_admin_key={}", admin_key.value)?;
    writeln!(out, "ibm_app_key={}", app_key.value)?;
    writeln!(out, "ibm_app_subject={}", app.sub)?;
    writeln!(out, "balena_session={session}")?;
    writeln!(out, "pachd={}", pachd.address())?;
    writeln!(out, "pachd_root_token={}", pachd.root_token())?;
    writeln!(out, "proxmox={}", proxmox.url())?;
    writeln!(out, "proxmox_token_secret={proxmox_secret}")?;
    out.flush()?;
    drop(out);
    loop {
        std::thread::park();
    }
}
