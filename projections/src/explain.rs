//! The index tests' one check. With sequential scans priced out, PostgreSQL still plans one where
//! no index serves a query: a plan without one proves that the query reads through an index.

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

/// A connection of `pool` that plans sequential scans only where nothing else serves.
pub(crate) async fn pricing_out_seq_scans(pool: &PgPool) -> PoolConnection<Postgres> {
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    conn
}

/// The plan of `statement`, an `EXPLAIN` of a query, asserted to read through indexes only;
/// `case` names what was planned when it does not.
pub(crate) async fn assert_indexed(
    conn: &mut PgConnection,
    statement: &mut QueryBuilder<'_, Postgres>,
    case: &str,
) -> String {
    let plan: Vec<String> = statement
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_else(|error| panic!("{case}: {error}"));
    let plan = plan.join("\n");
    assert!(!plan.contains("Seq Scan"), "{case}:\n{plan}");
    plan
}
