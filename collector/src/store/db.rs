//! One SQL text for two engines: the embedded SQLite file (one collector)
//! and PostgreSQL (several collectors sharing one database).
//!
//! The store writes its statements once, in the common subset of both
//! dialects, with numbered placeholders (`?1`) and `GREATEST`/`LEAST` for
//! the scalar maximum and minimum; [`Conn`] adapts the text to the engine
//! (PostgreSQL's `$1`, SQLite's scalar `MAX`/`MIN`), caches the prepared
//! statement, binds [`Value`]s and returns [`Row`]s. Upserts use
//! `ON CONFLICT`, which both engines have; sums are cast to `BIGINT` so
//! PostgreSQL does not answer with `NUMERIC`.
//!
//! The PostgreSQL client is synchronous (like rusqlite) and runs its own
//! small runtime for each call, which tokio forbids inside a runtime's
//! worker: calls made there are moved off the worker with
//! `block_in_place` (or a scoped thread on a current-thread runtime).

use super::StoreError;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use std::collections::HashMap;

/// A value bound to a placeholder or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any integer (and booleans, as 0/1).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// What may be bound to a placeholder.
pub trait ToValue {
    /// This value as a [`Value`].
    fn value(&self) -> Value;
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn value(&self) -> Value {
                // Counts beyond i64 do not occur; saturate rather than wrap.
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_value!(i32, i64, u16, u32, u64, usize);

impl ToValue for bool {
    fn value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for str {
    fn value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for Vec<u8> {
    fn value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn value(&self) -> Value {
        (**self).value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::value)
    }
}

/// `args![a, b, c]`: placeholders' values, in order.
macro_rules! args {
    ($($e:expr),* $(,)?) => {
        &[$($crate::store::db::ToValue::value(&$e)),*][..]
    };
}
pub(crate) use args;

/// What may be read from a column.
pub trait FromValue: Sized {
    /// The column's value as `Self`, `None` when it is of another type.
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}
impl FromValue for u32 {
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).and_then(|i| u32::try_from(i).ok())
    }
}
impl FromValue for u64 {
    /// Negative stored counts (never written) read as 0.
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).map(|i| i.max(0) as u64)
    }
}
impl FromValue for bool {
    fn from_value(v: &Value) -> Option<Self> {
        i64::from_value(v).map(|i| i != 0)
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(Vec<Value>);

impl Row {
    /// Column `i` as `T`; a type that does not fit is a corrupt row.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, StoreError> {
        let v = self.0.get(i).unwrap_or(&Value::Null);
        T::from_value(v).ok_or_else(|| StoreError::Corrupt {
            table: "query",
            detail: format!(
                "column {i} holds {v:?}, not a {}",
                std::any::type_name::<T>()
            ),
        })
    }
}

/// Which engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The embedded file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connection to either engine.
pub enum Conn {
    /// SQLite.
    Sqlite(rusqlite::Connection),
    /// PostgreSQL, with its prepared statements (boxed: the client is
    /// large, and one store holds only a few connections).
    Postgres(Box<PgConn>),
}

/// A PostgreSQL client and the statements prepared on it.
pub struct PgConn {
    /// Always `Some` until dropped.
    client: Option<postgres::Client>,
    statements: HashMap<&'static str, postgres::Statement>,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Closing the client blocks on its runtime too, and the last
        // reference to a store may go on a tokio worker (a task ending at
        // shutdown): close it on a thread of its own there.
        if let Some(client) = self.client.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            std::thread::scope(|s| {
                s.spawn(move || drop(client));
            });
        }
    }
}

impl PgConn {
    fn client(&mut self) -> &mut postgres::Client {
        // Only `drop` takes it.
        self.client.as_mut().expect("a live connection")
    }
}

impl PgConn {
    /// Connects to `url` (`postgresql://user@host:port/db`).
    pub fn connect(url: &str) -> Result<Box<Self>, StoreError> {
        let client = off_runtime(|| postgres::Client::connect(url, postgres::NoTls))?;
        Ok(Box::new(Self {
            client: Some(client),
            statements: HashMap::new(),
        }))
    }
}

/// An open transaction on either engine; dropped without
/// [`Tx::commit`], it rolls back.
pub enum Tx<'c> {
    /// SQLite.
    Sqlite(rusqlite::Transaction<'c>),
    /// PostgreSQL.
    Postgres {
        /// The transaction.
        tx: postgres::Transaction<'c>,
        /// The connection's statement cache.
        statements: &'c mut HashMap<&'static str, postgres::Statement>,
    },
}

/// Runs `f`, which blocks on PostgreSQL's own runtime, where tokio allows
/// that: directly outside a runtime (the ingest thread, blocking tasks),
/// with `block_in_place` on a multi-threaded runtime's worker, else on a
/// scoped thread.
fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match tokio::runtime::Handle::try_current() {
        Err(_) => f(),
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        Ok(_) => std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        }),
    }
}

/// `sql` in PostgreSQL's dialect: `?N` placeholders become `$N`.
fn postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// `sql` in SQLite's dialect: its scalar `MAX`/`MIN` for `GREATEST`/`LEAST`.
fn sqlite_sql(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.contains("GREATEST(") || sql.contains("LEAST(") {
        sql.replace("GREATEST(", "MAX(")
            .replace("LEAST(", "MIN(")
            .into()
    } else {
        sql.into()
    }
}

/// Binds a [`Value`] without copying it (reports' JSON sections are the
/// bulk of what ingest writes).
impl rusqlite::types::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn sqlite_row(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    (0..n)
        .map(|i| {
            Ok(match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(i) => Value::Int(i),
                rusqlite::types::ValueRef::Real(f) => Value::Real(f),
                rusqlite::types::ValueRef::Text(t) => {
                    Value::Text(String::from_utf8_lossy(t).into_owned())
                }
                rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()
        .map(Row)
}

fn postgres_row(r: &postgres::Row) -> Result<Row, StoreError> {
    let mut out = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?
                .map_or(Value::Null, Value::Int)
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?
                .map_or(Value::Null, |v| Value::Int(v.into()))
        } else if *ty == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)?
                .map_or(Value::Null, |v| Value::Int(v.into()))
        } else if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?
                .map_or(Value::Null, |v| Value::Int(v.into()))
        } else if *ty == Type::FLOAT8 {
            r.try_get::<_, Option<f64>>(i)?
                .map_or(Value::Null, Value::Real)
        } else if *ty == Type::FLOAT4 {
            r.try_get::<_, Option<f32>>(i)?
                .map_or(Value::Null, |v| Value::Real(v.into()))
        } else if *ty == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)?
                .map_or(Value::Null, Value::Blob)
        } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
            r.try_get::<_, Option<String>>(i)?
                .map_or(Value::Null, Value::Text)
        } else {
            return Err(StoreError::Corrupt {
                table: "query",
                detail: format!(
                    "column {} has type {ty}, which the store does not read",
                    col.name()
                ),
            });
        };
        out.push(v);
    }
    Ok(Row(out))
}

/// Binds a [`Value`] to whatever type PostgreSQL inferred for the
/// placeholder (an integer to `BIGINT`, `INTEGER` or `BOOLEAN`, ...).
impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) if *ty == Type::INT8 => i.to_sql(ty, out),
            Value::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Value::Int(i) if *ty == Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
            Value::Int(i) if *ty == Type::BOOL => (*i != 0).to_sql(ty, out),
            Value::Int(i) if *ty == Type::FLOAT8 => (*i as f64).to_sql(ty, out),
            Value::Int(i) if *ty == Type::TEXT => i.to_string().to_sql(ty, out),
            Value::Real(f) if *ty == Type::FLOAT4 => (*f as f32).to_sql(ty, out),
            Value::Real(f) => f.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
            Value::Int(_) => Err(format!("an integer cannot be bound to a {ty} parameter").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn pg_params(args: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// The statements both a connection and a transaction run.
pub trait Exec {
    /// Runs a statement; returns the rows it changed.
    fn execute(&mut self, sql: &'static str, args: &[Value]) -> Result<u64, StoreError>;
    /// Runs a query; returns every row.
    fn query(&mut self, sql: &'static str, args: &[Value]) -> Result<Vec<Row>, StoreError>;

    /// Runs a query and hands each row to `f` as it arrives (large
    /// results are not held whole).
    fn for_each(
        &mut self,
        sql: &'static str,
        args: &[Value],
        f: &mut (dyn FnMut(Row) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError>;

    /// The first row, if any.
    fn query_opt(&mut self, sql: &'static str, args: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The one row a query must return (an aggregate).
    fn query_one(&mut self, sql: &'static str, args: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, args)?
            .ok_or_else(|| StoreError::Corrupt {
                table: "query",
                detail: format!(
                    "no row from {}",
                    sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ")
                ),
            })
    }
}

fn sqlite_execute(c: &rusqlite::Connection, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
    let mut stmt = c.prepare_cached(&sqlite_sql(sql))?;
    Ok(stmt.execute(rusqlite::params_from_iter(args))? as u64)
}

fn sqlite_query(
    c: &rusqlite::Connection,
    sql: &str,
    args: &[Value],
) -> Result<Vec<Row>, StoreError> {
    let mut stmt = c.prepare_cached(&sqlite_sql(sql))?;
    let n = stmt.column_count();
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| sqlite_row(r, n))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// `sql` prepared on `pg`'s client (once).
fn prepared(pg: &mut PgConn, sql: &'static str) -> Result<postgres::Statement, StoreError> {
    let PgConn { client, statements } = pg;
    let client = client.as_mut().expect("a live connection");
    pg_statement(client, statements, sql)
}

/// Prepares `sql` once per connection.
fn pg_statement<C: postgres::GenericClient>(
    client: &mut C,
    statements: &mut HashMap<&'static str, postgres::Statement>,
    sql: &'static str,
) -> Result<postgres::Statement, StoreError> {
    if let Some(s) = statements.get(sql) {
        return Ok(s.clone());
    }
    let s = client.prepare(&postgres_sql(sql))?;
    statements.insert(sql, s.clone());
    Ok(s)
}

impl Exec for Conn {
    fn execute(&mut self, sql: &'static str, args: &[Value]) -> Result<u64, StoreError> {
        match self {
            Conn::Sqlite(c) => sqlite_execute(c, sql, args),
            Conn::Postgres(pg) => off_runtime(|| {
                let s = prepared(pg, sql)?;
                Ok(pg.client().execute(&s, &pg_params(args))?)
            }),
        }
    }

    fn for_each(
        &mut self,
        sql: &'static str,
        args: &[Value],
        f: &mut (dyn FnMut(Row) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(c) => sqlite_for_each(c, sql, args, f),
            Conn::Postgres(pg) => off_runtime(|| {
                let PgConn { client, statements } = &mut **pg;
                let client = client.as_mut().expect("a live connection");
                pg_for_each(client, statements, sql, args, f)
            }),
        }
    }

    fn query(&mut self, sql: &'static str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Conn::Sqlite(c) => sqlite_query(c, sql, args),
            Conn::Postgres(pg) => off_runtime(|| {
                let s = prepared(pg, sql)?;
                pg.client()
                    .query(&s, &pg_params(args))?
                    .iter()
                    .map(postgres_row)
                    .collect()
            }),
        }
    }
}

fn sqlite_for_each(
    c: &rusqlite::Connection,
    sql: &str,
    args: &[Value],
    f: &mut (dyn FnMut(Row) -> Result<(), StoreError> + Send),
) -> Result<(), StoreError> {
    let mut stmt = c.prepare_cached(&sqlite_sql(sql))?;
    let n = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    while let Some(r) = rows.next()? {
        f(sqlite_row(r, n)?)?;
    }
    Ok(())
}

fn pg_for_each<C: postgres::GenericClient>(
    client: &mut C,
    statements: &mut HashMap<&'static str, postgres::Statement>,
    sql: &'static str,
    args: &[Value],
    f: &mut (dyn FnMut(Row) -> Result<(), StoreError> + Send),
) -> Result<(), StoreError> {
    use postgres::fallible_iterator::FallibleIterator;
    let s = pg_statement(client, statements, sql)?;
    let mut rows = client.query_raw(&s, args.iter())?;
    while let Some(r) = rows.next()? {
        f(postgres_row(&r)?)?;
    }
    Ok(())
}

impl Exec for Tx<'_> {
    fn execute(&mut self, sql: &'static str, args: &[Value]) -> Result<u64, StoreError> {
        match self {
            Tx::Sqlite(t) => sqlite_execute(t, sql, args),
            Tx::Postgres { tx, statements } => off_runtime(|| {
                let s = pg_statement(tx, statements, sql)?;
                Ok(tx.execute(&s, &pg_params(args))?)
            }),
        }
    }

    fn for_each(
        &mut self,
        sql: &'static str,
        args: &[Value],
        f: &mut (dyn FnMut(Row) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => sqlite_for_each(t, sql, args, f),
            Tx::Postgres { tx, statements } => {
                off_runtime(|| pg_for_each(tx, statements, sql, args, f))
            }
        }
    }

    fn query(&mut self, sql: &'static str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Tx::Sqlite(t) => sqlite_query(t, sql, args),
            Tx::Postgres { tx, statements } => off_runtime(|| {
                let s = pg_statement(tx, statements, sql)?;
                tx.query(&s, &pg_params(args))?
                    .iter()
                    .map(postgres_row)
                    .collect()
            }),
        }
    }
}

impl Conn {
    /// The engine behind it.
    pub fn engine(&self) -> Engine {
        match self {
            Conn::Sqlite(_) => Engine::Sqlite,
            Conn::Postgres(_) => Engine::Postgres,
        }
    }

    /// Begins a transaction.
    pub fn transaction(&mut self) -> Result<Tx<'_>, StoreError> {
        Ok(match self {
            Conn::Sqlite(c) => Tx::Sqlite(c.transaction()?),
            Conn::Postgres(pg) => {
                let PgConn { client, statements } = &mut **pg;
                let client = client.as_mut().expect("a live connection");
                Tx::Postgres {
                    tx: off_runtime(|| client.transaction())?,
                    statements,
                }
            }
        })
    }

    /// Runs several statements (schema migrations) as one script.
    pub fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(pg) => Ok(off_runtime(|| pg.client().batch_execute(sql))?),
        }
    }
}

impl Tx<'_> {
    /// Makes the transaction's changes durable.
    pub fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => Ok(t.commit()?),
            Tx::Postgres { tx, .. } => Ok(off_runtime(|| tx.commit())?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects() {
        assert_eq!(
            postgres_sql("UPDATE t SET a = GREATEST(a, ?2) WHERE id = ?1 AND b = '?'"),
            "UPDATE t SET a = GREATEST(a, $2) WHERE id = $1 AND b = '?'"
        );
        assert_eq!(
            sqlite_sql("SELECT GREATEST(a, ?1), LEAST(b, 2)"),
            "SELECT MAX(a, ?1), MIN(b, 2)"
        );
    }

    #[test]
    fn sqlite_round_trip_of_every_value() {
        let mut c = Conn::Sqlite(rusqlite::Connection::open_in_memory().unwrap());
        c.batch("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n INTEGER)")
            .unwrap();
        let n: Option<i64> = None;
        let mut tx = c.transaction().unwrap();
        tx.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
            args![u64::MAX, 0.5, "ư", vec![0u8, 1], n],
        )
        .unwrap();
        tx.commit().unwrap();
        let r = c
            .query_one("SELECT i, r, s, b, n, GREATEST(i, 0) FROM t", args![])
            .unwrap();
        assert_eq!(r.get::<i64>(0).unwrap(), i64::MAX);
        assert_eq!(r.get::<f64>(1).unwrap(), 0.5);
        assert_eq!(r.get::<String>(2).unwrap(), "ư");
        assert_eq!(r.get::<Vec<u8>>(3).unwrap(), [0, 1]);
        assert_eq!(r.get::<Option<i64>>(4).unwrap(), None);
        assert!(r.get::<String>(0).is_err(), "an integer is not text");
    }
}
