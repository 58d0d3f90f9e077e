//! Errors as logs and dead letters may show them. Some error messages quote the value they failed
//! on (serde's `invalid type: string "jo@example.com"`, PostgreSQL's `invalid input syntax for type
//! uuid: "…"`), and that value can be personal data, which logs never carry and which a dead
//! letter's error would keep beyond the reach of erasure. Such errors are shown by their kind,
//! code and position instead.

use std::error::Error;
use std::fmt::{self, Display, Formatter};

use serde_json::error::Category;
use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;

use crate::ProjectionError;

/// Displays an error and its sources, each error that can quote a value by its kind only. Errors
/// of other types show their own text: this workspace's are written not to quote values.
pub struct Redacted<'a>(pub &'a (dyn Error + 'static));

impl Display for Redacted<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let mut link = Some(self.0);
        let mut first = true;
        while let Some(error) = link {
            if !first {
                f.write_str(": ")?;
            }
            first = false;
            // A known type ends the walk: its sources are what would quote the value.
            if let Some(error) = error.downcast_ref::<ProjectionError>() {
                return match error {
                    ProjectionError::Database(error) => sqlx_error(error, f),
                    other => write!(f, "{other}"),
                };
            }
            if let Some(error) = error.downcast_ref::<sqlx::Error>() {
                return sqlx_error(error, f);
            }
            if let Some(error) = error.downcast_ref::<PgDatabaseError>() {
                return database_error(error, f);
            }
            if let Some(error) = error.downcast_ref::<serde_json::Error>() {
                return json_error(error, f);
            }
            write!(f, "{error}")?;
            link = error.source();
        }
        Ok(())
    }
}

fn sqlx_error(error: &sqlx::Error, f: &mut Formatter<'_>) -> fmt::Result {
    match error {
        sqlx::Error::Database(error) => database_error(error.as_ref(), f),
        // Their sources are the decoder's or encoder's message, which may quote the value.
        sqlx::Error::ColumnDecode { index, .. } => write!(f, "cannot decode column {index}"),
        sqlx::Error::Decode(_) => f.write_str("cannot decode a value"),
        sqlx::Error::Encode(_) => f.write_str("cannot encode a value"),
        other => write!(f, "{other}"),
    }
}

/// A PostgreSQL error by its SQLSTATE and the objects it names. Its message is left out, as many
/// quote the value (`invalid input syntax for type uuid: "…"`, `syntax error in tsquery: "…"`),
/// except for class P0: raised by this schema's own functions, whose messages quote no value.
fn database_error(error: &dyn DatabaseError, f: &mut Formatter<'_>) -> fmt::Result {
    let code = error.code().unwrap_or_default();
    write!(f, "database error {code}")?;
    if code.starts_with("P0") {
        write!(f, ": {}", error.message())?;
    }
    if let Some(table) = error.table() {
        write!(f, " on table {table}")?;
    }
    if let Some(constraint) = error.constraint() {
        write!(f, " on constraint {constraint}")?;
    }
    Ok(())
}

fn json_error(error: &serde_json::Error, f: &mut Formatter<'_>) -> fmt::Result {
    let kind = match error.classify() {
        Category::Io => "cannot read the JSON",
        Category::Syntax => "malformed JSON",
        Category::Eof => "JSON that ends early",
        Category::Data => "JSON of the wrong shape or type",
    };
    f.write_str(kind)?;
    // Zero when read from a value rather than from text.
    if error.line() > 0 {
        write!(f, " at line {} column {}", error.line(), error.column())?;
    }
    Ok(())
}
