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
//! The values are those of [`Fakes`] (what each one is for is documented
//! there). The fake Proxmox API speaks HTTPS with a generated CA: the demo
//! sets `insecure_skip_tls_verify`.

use std::io::Write;

use integration_tests::fakes::{Fakes, IBM_ACCOUNT};

fn main() -> std::io::Result<()> {
    let fakes = Fakes::start()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "keys={}", fakes.keys.url())?;
    writeln!(out, "balena={}", fakes.balena.url())?;
    writeln!(out, "ibm_iam={}", fakes.iam.url())?;
    writeln!(
        out,
        "ibm_user_management={}",
        fakes.iam.user_management_url()
    )?;
    writeln!(out, "ibm_account={IBM_ACCOUNT}")?;
    writeln!(out, "ibm_admin_key={}", fakes.ibm_admin_key)?;
    writeln!(out, "ibm_app_key={}", fakes.ibm_app_key)?;
    writeln!(out, "ibm_app_subject={}", fakes.ibm_app_subject)?;
    writeln!(out, "balena_session={}", fakes.balena_session)?;
    writeln!(out, "pachd={}", fakes.pachd.address())?;
    writeln!(out, "pachd_root_token={}", fakes.pachd.root_token())?;
    writeln!(out, "proxmox={}", fakes.proxmox.url())?;
    writeln!(out, "proxmox_token_secret={}", fakes.proxmox_token_secret)?;
    out.flush()?;
    drop(out);
    loop {
        std::thread::park();
    }
}
