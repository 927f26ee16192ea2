//! Logging: `tracing` to standard error, filtered by `--log-level` or `RUST_LOG`, as text for
//! humans or as JSON lines for log pipelines.
//!
//! The JSON format ([`FlatJson`]) writes one object per line with the event's fields and the
//! fields of every span the event happened in **at the top level**: a line logged during a
//! reconcile carries `namespace` and `name` (the rotation), `rotation` (its number) and, while a
//! step runs, `step`, so `jq 'select(.name == "my-app")'` or a Loki/Elasticsearch field query
//! finds everything about one rotation. `spans` lists the span names, root first.
//!
//! Invariants: each line is one complete JSON object (messages with newlines are escaped); an
//! event's own field wins over a span field of the same name, and an inner span's over an outer
//! one's; nothing is logged that the events and spans do not already hold (which never includes a
//! secret value).

use std::{fmt, io::IsTerminal};

use serde_json::{Map, Value};
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{
    EnvFilter, Layer,
    field::Visit,
    fmt::{
        FmtContext, FormatEvent, FormattedFields, MakeWriter,
        format::{JsonFields, Writer},
    },
    layer::SubscriberExt,
    registry::LookupSpan,
};

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, span fields inline (`reconcile{namespace=team-a name=my-app}: ...`).
    #[default]
    Text,
    /// One JSON object per line, span fields at the top level.
    Json,
}

/// The log filter or subscriber could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up logging: {0}")]
pub struct LoggingError(String);

/// The filter: `RUST_LOG` when set, else `level`.
pub fn filter(level: &str) -> Result<EnvFilter, LoggingError> {
    match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => filter_of(&spec),
        _ => filter_of(level),
    }
}

fn filter_of(spec: &str) -> Result<EnvFilter, LoggingError> {
    EnvFilter::try_new(spec).map_err(|e| {
        LoggingError(format!(
            "filter {spec:?}: {e} (use a level such as `info`, or directives such as `info,secret_rotator=debug`)"
        ))
    })
}

/// A subscriber writing `format` lines to `writer`; `ansi` colours text lines (for a terminal
/// only: escape codes would clutter a file or a log pipeline).
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(ansi),
            ),
        ),
        LogFormat::Json => Box::new(registry.with(json_layer(writer))),
    }
}

/// The layer writing [`FlatJson`] lines to `writer` (what `--log-format json` installs; tests
/// compose it with other layers to see exactly what the operator would write).
pub fn json_layer<S, W>(writer: W) -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .fmt_fields(JsonFields::new())
        .event_format(FlatJson)
}

/// Installs the global subscriber, writing to standard error. `RUST_LOG`, when set, wins over
/// `level`.
pub fn init(format: LogFormat, level: &str) -> Result<(), LoggingError> {
    let ansi = std::io::stderr().is_terminal();
    let subscriber = subscriber(format, filter(level)?, std::io::stderr, ansi);
    tracing::subscriber::set_global_default(subscriber).map_err(|e| LoggingError(e.to_string()))
}

/// The JSON line format: event and span fields flattened into one object.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlatJson;

impl<S> FormatEvent<S, JsonFields> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), jiff::Timestamp::now().to_string().into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            let mut names = vec![];
            for span in scope.from_root() {
                names.push(Value::from(span.name()));
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
            }
            line.insert("spans".into(), Value::Array(names));
        }
        event.record(&mut FieldVisitor(&mut line));
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Records an event's fields as JSON values.
struct FieldVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn capture(format: LogFormat, f: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let subscriber = subscriber(format, EnvFilter::new("debug"), buffer.clone(), false);
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    fn lines(out: &str) -> Vec<Map<String, Value>> {
        out.lines()
            .map(|l| match serde_json::from_str(l) {
                Ok(Value::Object(m)) => m,
                other => panic!("not a JSON object: {l} ({other:?})"),
            })
            .collect()
    }

    #[test]
    fn json_lines_carry_span_fields_at_the_top_level() {
        let out = capture(LogFormat::Json, || {
            tracing::info!("before");
            let reconcile = tracing::info_span!(
                "reconcile",
                namespace = "team-a",
                name = "my-app",
                rotation = tracing::field::Empty
            );
            let _r = reconcile.enter();
            tracing::info!("planned");
            reconcile.record("rotation", 3);
            let _s = tracing::info_span!("step", step = "Mint").entered();
            tracing::warn!(key_id = "k-1", attempt = 2u64, "minted\nsecond line");
        });
        let lines = lines(&out);
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(lines[0]["message"], "before");
        assert!(!lines[0].contains_key("namespace"));
        assert_eq!(lines[1]["namespace"], "team-a");
        assert_eq!(lines[1]["name"], "my-app");
        assert!(!lines[1].contains_key("rotation"), "not recorded yet");
        let minted = &lines[2];
        assert_eq!(
            (
                &minted["namespace"],
                &minted["name"],
                &minted["rotation"],
                &minted["step"]
            ),
            (
                &Value::from("team-a"),
                &Value::from("my-app"),
                &Value::from(3),
                &Value::from("Mint")
            )
        );
        assert_eq!(minted["message"], "minted\nsecond line");
        assert_eq!(minted["key_id"], "k-1");
        assert_eq!(minted["attempt"], 2);
        assert_eq!(minted["level"], "WARN");
        assert_eq!(minted["spans"], serde_json::json!(["reconcile", "step"]));
        assert!(
            minted["timestamp"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .is_ok()
        );
    }

    #[test]
    fn event_fields_win_over_span_fields() {
        let out = capture(LogFormat::Json, || {
            let _s = tracing::info_span!("outer", name = "outer", depth = 1).entered();
            let _t = tracing::info_span!("inner", depth = 2).entered();
            tracing::info!(name = "event", "x");
        });
        let line = &lines(&out)[0];
        assert_eq!(
            (&line["name"], &line["depth"]),
            (&Value::from("event"), &Value::from(2))
        );
    }

    #[test]
    fn text_lines_name_the_spans_inline() {
        let out = capture(LogFormat::Text, || {
            let _s = tracing::info_span!("reconcile", namespace = "team-a", name = "my-app").entered();
            tracing::info!("planned");
        });
        assert!(
            out.contains("reconcile{namespace=\"team-a\" name=\"my-app\"}"),
            "{out}"
        );
        assert!(serde_json::from_str::<Value>(out.trim()).is_err());
    }

    #[test]
    fn a_bad_filter_says_what_to_write() {
        let error = filter_of("info,[").unwrap_err().to_string();
        assert!(error.contains("secret_rotator=debug"), "{error}");
    }
}
