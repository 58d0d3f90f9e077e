use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Connects to the configured database, creating it first if it does not exist, and brings its
/// schema up to date.
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .context("DATABASE_URL is not a PostgreSQL URL")?
        // JIT compiles plans the planner prices high, which here are only the plans a list's
        // total is estimated from: never run, yet compiling them took tens of milliseconds.
        .options([("jit", "off")]);
    create_if_missing(&options).await?;
    let pool = PgPoolOptions::new()
        .max_connections(48)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .context("cannot connect to PostgreSQL")?;
    MIGRATOR.run(&pool).await.context("cannot run migrations")?;
    Ok(pool)
}

async fn create_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options.get_database().unwrap_or("support").to_owned();
    let mut maintenance = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .context("cannot connect to PostgreSQL")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut maintenance)
            .await?;
    if !exists {
        let quoted = name.replace('"', "\"\"");
        if let Err(error) = sqlx::query(&format!("CREATE DATABASE \"{quoted}\""))
            .execute(&mut maintenance)
            .await
        {
            // Another process may have created it in the meantime.
            let raced =
                error.as_database_error().and_then(|e| e.code()).as_deref() == Some("42P04");
            if !raced {
                return Err(error.into());
            }
        }
        tracing::info!(database = %name, "created database");
    }
    maintenance.close().await?;
    Ok(())
}
