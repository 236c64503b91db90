//! The demo's fake upstream services, in one process: runs until killed.
//!
//! Prints one `<name>=<url>` line per service on stdout (then nothing else),
//! so `scripts/demo.sh` can configure the plugins against them:
//!
//! ```text
//! keys=http://127.0.0.1:40123
//! ```

use std::io::Write;

use integration_tests::fake_keys::FakeKeyService;

fn main() -> std::io::Result<()> {
    let keys = FakeKeyService::start()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "keys={}", keys.url())?;
    out.flush()?;
    drop(out);
    loop {
        std::thread::park();
    }
}
