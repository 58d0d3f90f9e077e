//! Where a replay writes: fresh copies of a read model's tables, swapped in when it commits.
//!
//! A replay writes every row again. Into the live tables, each insert and change would also
//! maintain every index, in random order, and leave the old row and its index entries behind;
//! at a million tickets that made the read model outgrow memory and replay a disk-bound crawl.
//! Fresh tables carry only the keys the projection's upserts need while they fill; their other
//! indexes are built once at the end, each in one sorted pass. Readers keep the old tables until
//! the swap commits, and only the swap itself locks them out, briefly.
//!
//! The fresh tables take the live ones' columns, defaults, constraints, indexes, storage
//! parameters and privileges. Read-model tables carry no foreign keys and no sequences of their
//! own (both would tie the new table to the old one it replaces) and no triggers (not copied).
//! Dropping the old table fails the replay, rather than dropping anything else, when some other
//! object (a view) depends on it.

use sqlx::PgConnection;

/// A replay's fresh tables, in a schema of their own that stands first on the transaction's
/// search path, so the projection's statements, which name tables unqualified, write into them.
pub(crate) struct FreshTables {
    schema: String,
    tables: Vec<LiveTable>,
    search_path: String,
}

struct LiveTable {
    name: &'static str,
    /// The schema of the live table the fresh one replaces.
    schema: String,
    /// The definitions of its indexes that back no constraint, built after the fresh table filled.
    indexes: Vec<String>,
}

impl FreshTables {
    pub(crate) async fn create(
        conn: &mut PgConnection,
        read_model: &str,
        tables: &'static [&'static str],
    ) -> Result<Self, sqlx::Error> {
        let schema = format!("rebuild_{read_model}");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut *conn)
            .await?;
        let mut live = Vec::with_capacity(tables.len());
        for &name in tables {
            let table_schema: String = sqlx::query_scalar(
                "SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = $1::regclass",
            )
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
            let qualified = format!("{table_schema}.{name}");
            let fresh_table = format!("{schema}.{name}");
            sqlx::query(&format!(
                "CREATE TABLE {fresh_table} (LIKE {qualified} INCLUDING ALL EXCLUDING INDEXES)"
            ))
            .execute(&mut *conn)
            .await?;
            // What `LIKE` leaves out and the fresh table needs before it fills: the primary key
            // and unique constraints (upserts name them, and they keep the rows as the live
            // table does), storage parameters, and the privileges granted on the table.
            let carried: Vec<String> = sqlx::query_scalar(
                "SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', $2::text, conname, \
                     pg_get_constraintdef(oid)) \
                 FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('p', 'u') \
                 UNION ALL \
                 SELECT format('ALTER TABLE %s SET (%s)', $2::text, \
                     array_to_string(reloptions, ', ')) \
                 FROM pg_class WHERE oid = $1::regclass AND reloptions IS NOT NULL \
                 UNION ALL \
                 SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, $2::text, \
                     CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, \
                     CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) \
                 FROM pg_class c, aclexplode(c.relacl) a \
                 WHERE c.oid = $1::regclass AND a.grantee <> c.relowner",
            )
            .bind(&qualified)
            .bind(&fresh_table)
            .fetch_all(&mut *conn)
            .await?;
            for statement in carried {
                sqlx::query(&statement).execute(&mut *conn).await?;
            }
            let indexes: Vec<String> = sqlx::query_scalar(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i \
                 WHERE i.indrelid = $1::regclass \
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            )
            .bind(&qualified)
            .fetch_all(&mut *conn)
            .await?;
            // `pg_get_indexdef` names the table qualified: point each at the fresh one.
            let on_live = format!(" ON {qualified} USING ");
            let on_fresh = format!(" ON {fresh_table} USING ");
            let indexes = indexes
                .into_iter()
                .map(|definition| {
                    if definition.contains(&on_live) {
                        Ok(definition.replacen(&on_live, &on_fresh, 1))
                    } else {
                        Err(sqlx::Error::Protocol(format!(
                            "index definition {definition:?} does not name {qualified}"
                        )))
                    }
                })
                .collect::<Result<_, _>>()?;
            live.push(LiveTable {
                name,
                schema: table_schema,
                indexes,
            });
        }
        let search_path: String = sqlx::query_scalar("SELECT current_setting('search_path')")
            .fetch_one(&mut *conn)
            .await?;
        set_search_path(conn, &format!("{schema}, {search_path}")).await?;
        // Index builds sort in memory rather than in temporary files.
        sqlx::query("SET LOCAL maintenance_work_mem = '512MB'")
            .execute(&mut *conn)
            .await?;
        Ok(Self {
            schema,
            tables: live,
            search_path,
        })
    }

    /// Builds the fresh tables' indexes and statistics, then puts them in place of the live ones.
    pub(crate) async fn swap_in(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        set_search_path(conn, &self.search_path).await?;
        for table in &self.tables {
            for index in &table.indexes {
                sqlx::query(index).execute(&mut *conn).await?;
            }
            // The planner needs them at once; autovacuum would take its time.
            sqlx::query(&format!("ANALYZE {}.{}", self.schema, table.name))
                .execute(&mut *conn)
                .await?;
        }
        for table in &self.tables {
            sqlx::query(&format!("DROP TABLE {}.{}", table.schema, table.name))
                .execute(&mut *conn)
                .await?;
            sqlx::query(&format!(
                "ALTER TABLE {}.{} SET SCHEMA {}",
                self.schema, table.name, table.schema
            ))
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query(&format!("DROP SCHEMA {}", self.schema))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

async fn set_search_path(conn: &mut PgConnection, path: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('search_path', $1, true)")
        .bind(path)
        .execute(conn)
        .await?;
    Ok(())
}
