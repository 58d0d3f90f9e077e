use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    /// One JSON object a line, with the fields of the spans around each event.
    Json,
}

impl LogFormat {
    /// JSON when SUPPORTD_LOG_FORMAT=json.
    pub fn from_env() -> Self {
        if std::env::var("SUPPORTD_LOG_FORMAT").as_deref() == Ok("json") {
            LogFormat::Json
        } else {
            LogFormat::Text
        }
    }
}

/// Logs to stderr, filtered by RUST_LOG (default `info`); JSON when SUPPORTD_LOG_FORMAT=json.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // A second call (tests start several applications) keeps the first subscriber.
    drop(init_with_writer(
        std::io::stderr,
        filter,
        LogFormat::from_env(),
    ));
    log_panics_without_their_message();
}

/// Installs the process's subscriber, writing to `make_writer`: `init` with stderr, and tests
/// that read what the service logs with the formatter it logs with.
pub fn init_with_writer<W>(
    make_writer: W,
    filter: EnvFilter,
    format: LogFormat,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(make_writer);
    match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    }
}

/// Panics are logged as events, with where they happened. Their message is left out unless it is
/// a literal: `unwrap` and `expect` write the error they met, which can quote a personal value.
fn log_panics_without_their_message() {
    std::panic::set_hook(Box::new(|panic| {
        let location = panic.location().map(ToString::to_string);
        let message = panic.payload().downcast_ref::<&'static str>().copied();
        tracing::error!(location, message, "panicked");
    }));
}
