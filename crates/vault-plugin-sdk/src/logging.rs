//! Logs as the host wants them: one hclog-style JSON object per line on
//! stderr (`@level`, `@message`, `@timestamp`, `@module`, then fields).
//! go-plugin parses such lines and re-logs them at their own level, so an
//! operator sees plugin logs at the server's log level. Plain text lines
//! would all land at debug.
//!
//! The plugin's own threshold (trace, debug, info, warn, error, off; default
//! info) comes from the `--log-level=` argument
//! (`bao plugin register -args=--log-level=debug ...`), or else from
//! `PLUGIN_LOG_LEVEL` (Vault's `plugin register -env`). Release builds
//! compile out trace-level events (the workspace enables tracing's
//! `release_max_level_debug`): that removes the per-frame trace calls of the
//! HTTP/2 stack, 140 KB of binary and some CPU per request.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The variable holding the plugin's log threshold.
pub const LOG_LEVEL_VAR: &str = "PLUGIN_LOG_LEVEL";

/// The transport crates under the SDK (HTTP/2, gRPC, TLS, HTTP clients, name
/// resolution). At debug they log every frame and poll: a plugin at debug
/// level would write hundreds of lines per request, burying its own.
const TRANSPORT_CRATES: &[&str] = &[
    "h2",
    "hyper",
    "hyper_util",
    "tower",
    "tonic",
    "rustls",
    "reqwest",
    "hickory_proto",
    "hickory_resolver",
];

/// Installs the JSON logger on stderr at `level`, or the level in
/// `PLUGIN_LOG_LEVEL`, or info (once; later calls do nothing).
pub fn init(level: Option<LevelFilter>) {
    let level = level
        .or_else(|| std::env::var(LOG_LEVEL_VAR).ok()?.trim().parse().ok())
        .unwrap_or(LevelFilter::INFO);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .event_format(HclogJson)
        .finish()
        .with(targets(level))
        .try_init();
}

/// What is logged at `level`: everything of the plugin and the SDK, and of
/// the [`TRANSPORT_CRATES`] at most info unless `level` is trace.
fn targets(level: LevelFilter) -> Targets {
    let transport = if level == LevelFilter::TRACE {
        level
    } else {
        level.min(LevelFilter::INFO)
    };
    TRANSPORT_CRATES
        .iter()
        .fold(Targets::new().with_default(level), |targets, name| {
            targets.with_target(*name, transport)
        })
}

/// Formats events as hclog JSON lines.
pub struct HclogJson;

struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, Value::String(value.to_owned()));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, Value::Bool(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.insert(field, Value::String(format!("{value:?}")));
    }
}

impl Fields {
    fn insert(&mut self, field: &Field, value: Value) {
        let key = if field.name() == "message" {
            "@message"
        } else {
            field.name()
        };
        // go-plugin type-asserts `@message` to a string.
        let value = match (key, value) {
            ("@message", Value::String(s)) => Value::String(s),
            ("@message", other) => Value::String(other.to_string()),
            (_, v) => v,
        };
        self.0.insert(key.to_owned(), value);
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

impl<S, N> FormatEvent<S, N> for HclogJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let mut map = Map::new();
        map.insert(
            "@level".into(),
            Value::String(level_name(event.metadata().level()).into()),
        );
        map.insert(
            "@message".into(),
            fields
                .0
                .remove("@message")
                .unwrap_or_else(|| Value::String(String::new())),
        );
        map.insert(
            "@timestamp".into(),
            Value::String(timestamp(std::time::SystemTime::now())),
        );
        map.insert(
            "@module".into(),
            Value::String(event.metadata().target().to_owned()),
        );
        map.extend(fields.0);
        writeln!(writer, "{}", Value::Object(map))
    }
}

/// `2006-01-02T15:04:05.000000Z`, the layout go-plugin parses.
fn timestamp(now: std::time::SystemTime) -> String {
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let mut out = String::with_capacity(27);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_micros()
    );
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's method).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_match_gos_layout() {
        let cases = [
            (0u64, 0u32, "1970-01-01T00:00:00.000000Z"),
            (951_782_400, 5_000, "2000-02-29T00:00:00.000005Z"),
            (1_795_424_645, 123_456_000, "2026-11-23T09:04:05.123456Z"),
        ];
        for (secs, nanos, want) in cases {
            let t = UNIX_EPOCH + Duration::new(secs, nanos);
            assert_eq!(timestamp(t), want);
        }
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn transport_crates_stay_at_info_unless_trace_is_asked() {
        let debug = targets(LevelFilter::DEBUG);
        assert!(debug.would_enable("secrets_balena::creds", &Level::DEBUG));
        assert!(debug.would_enable("vault_plugin_sdk::backend", &Level::DEBUG));
        assert!(!debug.would_enable("h2::codec::framed_read", &Level::DEBUG));
        assert!(!debug.would_enable("tower::buffer::worker", &Level::DEBUG));
        assert!(debug.would_enable("hyper_util::client", &Level::INFO));
        let warn = targets(LevelFilter::WARN);
        assert!(!warn.would_enable("h2", &Level::INFO));
        assert!(!warn.would_enable("secrets_balena", &Level::INFO));
        let trace = targets(LevelFilter::TRACE);
        assert!(trace.would_enable("h2::codec::framed_read", &Level::TRACE));
    }

    #[test]
    fn events_become_hclog_json_lines() {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(Level::TRACE)
            .event_format(HclogJson)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(mount = "kv/", count = 3, "something odd");
            tracing::debug!(answer = 42);
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["@level"], "warn");
        assert_eq!(lines[0]["@message"], "something odd");
        assert_eq!(lines[0]["mount"], "kv/");
        assert_eq!(lines[0]["count"], 3);
        assert!(lines[0]["@timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["@level"], "debug");
        assert_eq!(lines[1]["@message"], "", "a message is always a string");
    }
}
