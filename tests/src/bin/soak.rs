//! The soak command behind `scripts/soak.sh`: 32 concurrent clients issue
//! and revoke credentials on every plugin (all six on one OpenBao dev
//! server, configured against their fakes: [`Fleet`]) for N minutes, then a
//! Markdown table on stdout: per plugin the cycles, errors, p50/p99 of
//! issuing and of revoking, the plugin's RSS at the end of the warm-up and
//! at the end (growth must stay under 1 MB), and its open file descriptors
//! and threads before and after the load. Progress goes to stderr. Exits 1
//! on any error or an RSS growth of 1 MB or more.
//!
//! ```text
//! soak [--minutes N] [--clients N]     (defaults: 2 minutes, 32 clients)
//! ```
//!
//! The harness's leak check is skipped here: it compares every secret with
//! every response, which a soak's tens of thousands of both make quadratic;
//! the integration tests run it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use integration_tests::fleet::Fleet;

/// RSS growth after the warm-up that fails the soak.
const MAX_RSS_GROWTH_KB: u64 = 1024;
/// How often the plugins' resources are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Error messages kept for the report.
const ERRORS_SHOWN: usize = 10;

/// Command-line options.
#[derive(Debug, Clone, Copy)]
struct Options {
    minutes: f64,
    clients: usize,
}

impl Options {
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Options> {
        let mut opts = Options {
            minutes: 2.0,
            clients: 32,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--minutes" => opts.minutes = value()?.parse().context("--minutes")?,
                "--clients" => opts.clients = value()?.parse().context("--clients")?,
                other => bail!("unknown argument {other:?} (soak [--minutes N] [--clients N])"),
            }
        }
        if opts.minutes <= 0.0 || opts.clients == 0 {
            bail!("--minutes and --clients must be positive");
        }
        Ok(opts)
    }

    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.minutes * 60.0)
    }

    /// The first fifth of the run, at least 10 s: caches, pools and
    /// allocator arenas fill up before RSS is taken as the baseline.
    fn warmup(&self) -> Duration {
        (self.duration() / 5).max(Duration::from_secs(10))
    }
}

/// What one process uses, from /proc.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Usage {
    rss_kb: u64,
    fds: usize,
    threads: u64,
}

fn usage(pid: u32) -> Result<Usage> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    let fds = fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?
        .count();
    Ok(Usage {
        rss_kb: field("VmRSS:").context("no VmRSS")?,
        fds,
        threads: field("Threads:").context("no Threads")?,
    })
}

/// Latencies and errors of one plugin.
#[derive(Debug, Default)]
struct Record {
    issue: Vec<Duration>,
    revoke: Vec<Duration>,
    errors: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("soak: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the soak and prints the report; `Ok(false)` when it failed.
fn run(opts: Options) -> Result<bool> {
    eprintln!("soak: starting OpenBao with all six plugins on their fakes");
    let fleet = Fleet::try_start()?;
    fleet.server.skip_leak_check();
    let mut pids = BTreeMap::new();
    for mounted in &fleet.plugins {
        let found = fleet.server.plugin_pids(mounted.plugin);
        let [pid] = found[..] else {
            bail!(
                "{}: expected one plugin process, found {found:?}",
                mounted.plugin
            );
        };
        pids.insert(mounted.plugin, pid);
    }
    let before: BTreeMap<_, _> = pids
        .iter()
        .map(|(name, pid)| Ok((*name, usage(*pid)?)))
        .collect::<Result<_>>()?;

    let records: Vec<Mutex<Record>> = fleet.plugins.iter().map(|_| Mutex::default()).collect();
    let messages = Mutex::new(Vec::<String>::new());
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let deadline = started + opts.duration();
    let warmup_end = started + opts.warmup();
    eprintln!(
        "soak: {} clients for {:.1} min (warm-up {}s)",
        opts.clients,
        opts.minutes,
        opts.warmup().as_secs()
    );

    let (at_warmup, peak_after) = thread::scope(|scope| {
        for client in 0..opts.clients {
            let (fleet, records, messages, stop) = (&fleet, &records, &messages, &stop);
            scope.spawn(move || {
                let mut turn = client;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let index = turn % fleet.plugins.len();
                    turn += 1;
                    let plugin = &fleet.plugins[index];
                    let t0 = Instant::now();
                    let outcome = fleet.mint(plugin).and_then(|credential| {
                        let issued = t0.elapsed();
                        let t1 = Instant::now();
                        fleet.revoke(&credential).map(|()| (issued, t1.elapsed()))
                    });
                    let mut record = records[index].lock().expect("record lock");
                    match outcome {
                        Ok((issued, revoked)) => {
                            record.issue.push(issued);
                            record.revoke.push(revoked);
                        }
                        Err(e) => {
                            record.errors += 1;
                            let mut kept = messages.lock().expect("messages lock");
                            if kept.len() < ERRORS_SHOWN {
                                kept.push(format!("{}: {e:#}", plugin.plugin));
                            }
                        }
                    }
                }
            });
        }
        // The sampler: usage at the end of the warm-up, and the highest RSS
        // and fd count seen after it.
        let mut at_warmup: BTreeMap<&str, Usage> = BTreeMap::new();
        let mut peak_after: BTreeMap<&str, Usage> = BTreeMap::new();
        let mut last_report = Instant::now();
        while Instant::now() < deadline {
            thread::sleep(SAMPLE_EVERY);
            let now = Instant::now();
            for (name, pid) in &pids {
                let Ok(sample) = usage(*pid) else {
                    stop.store(true, Ordering::Relaxed);
                    continue;
                };
                if now >= warmup_end {
                    at_warmup.entry(*name).or_insert(sample);
                    let peak = peak_after.entry(*name).or_insert(sample);
                    peak.rss_kb = peak.rss_kb.max(sample.rss_kb);
                    peak.fds = peak.fds.max(sample.fds);
                }
            }
            if last_report.elapsed() >= Duration::from_secs(30) {
                last_report = Instant::now();
                let done: usize = records
                    .iter()
                    .map(|r| r.lock().map(|r| r.issue.len()).unwrap_or(0))
                    .sum();
                eprintln!("soak: {:.0?} elapsed, {done} cycles", started.elapsed());
            }
        }
        stop.store(true, Ordering::Relaxed);
        (at_warmup, peak_after)
    });
    let elapsed = started.elapsed();
    // Let connections close and idle tasks end before counting.
    thread::sleep(Duration::from_secs(2));

    let mut ok = true;
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| plugin | cycles | errors | issue p50 ms | issue p99 ms | revoke p50 ms | revoke p99 ms \
         | RSS after warm-up KB | RSS peak after KB | growth KB | fds before / after warm-up / peak / after \
         | threads before/after |"
    );
    let _ = writeln!(
        table,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (index, mounted) in fleet.plugins.iter().enumerate() {
        let name = mounted.plugin;
        let mut record = records[index].lock().expect("record lock");
        record.issue.sort_unstable();
        record.revoke.sort_unstable();
        let pid = pids[name];
        let now_pids = fleet.server.plugin_pids(name);
        if now_pids != [pid] {
            ok = false;
            eprintln!("soak: {name} restarted (pid {pid}, now {now_pids:?})");
        }
        let after = usage(pid).unwrap_or_default();
        let warm = at_warmup.get(name).copied().unwrap_or_default();
        let high = peak_after.get(name).copied().unwrap_or_default();
        let (base, peak) = (warm.rss_kb, high.rss_kb);
        let growth = peak.saturating_sub(base);
        if growth >= MAX_RSS_GROWTH_KB || record.errors > 0 || record.issue.is_empty() {
            ok = false;
        }
        let b = before[name];
        let _ = writeln!(
            table,
            "| {name} | {} | {} | {} | {} | {} | {} | {base} | {peak} | {growth} | {} / {} / {} / {} \
             | {}/{} |",
            record.issue.len(),
            record.errors,
            ms(percentile(&record.issue, 50.0)),
            ms(percentile(&record.issue, 99.0)),
            ms(percentile(&record.revoke, 50.0)),
            ms(percentile(&record.revoke, 99.0)),
            b.fds,
            warm.fds,
            high.fds,
            after.fds,
            b.threads,
            after.threads,
        );
    }
    let cycles: usize = records
        .iter()
        .map(|r| r.lock().map(|r| r.issue.len()).unwrap_or(0))
        .sum();
    println!(
        "Soak: {} clients, {:.1} min ({cycles} issue+revoke cycles, {:.0}/s), OpenBao dev \
         server with all six plugins on their fakes, {} CPUs.\n",
        opts.clients,
        elapsed.as_secs_f64() / 60.0,
        cycles as f64 / elapsed.as_secs_f64(),
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    );
    print!("{table}");
    let messages = messages.into_inner().unwrap_or_default();
    if !messages.is_empty() {
        println!("\nFirst errors:");
        for message in messages {
            println!("- {message}");
        }
    }
    println!(
        "\nRSS growth = highest RSS after the warm-up ({}s) minus RSS at its end; \
         limit {MAX_RSS_GROWTH_KB} KB. Result: {}.",
        opts.warmup().as_secs(),
        if ok { "pass" } else { "FAIL" }
    );
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_and_parse() {
        let opts = Options::parse(Vec::new()).unwrap();
        assert_eq!((opts.minutes, opts.clients), (2.0, 32));
        assert_eq!(opts.warmup(), Duration::from_secs(24));
        let args = ["--minutes", "0.5", "--clients", "4"].map(String::from);
        let opts = Options::parse(args).unwrap();
        assert_eq!((opts.minutes, opts.clients), (0.5, 4));
        assert_eq!(opts.warmup(), Duration::from_secs(10));
        assert!(Options::parse(["--clients", "0"].map(String::from)).is_err());
        assert!(Options::parse(["--nope"].map(String::from)).is_err());
    }

    #[test]
    fn percentiles_pick_the_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }

    #[test]
    fn usage_of_this_process() {
        let me = usage(std::process::id()).unwrap();
        assert!(me.rss_kb > 0 && me.fds > 0 && me.threads >= 1, "{me:?}");
    }
}
