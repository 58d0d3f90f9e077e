use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by RUST_LOG (default `info`); JSON when SUPPORTD_LOG_FORMAT=json.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = if std::env::var("SUPPORTD_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second call (tests start several applications) keeps the first subscriber.
    drop(installed);
}
