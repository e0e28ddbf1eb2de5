//! The little each engine must provide so that every query is written once.
//!
//! An engine crate implements [`Backend`]: a connection for reads, a transaction for
//! writes, and [`Sql`] on both, which runs a statement with [`Val`] arguments and returns
//! rows of [`Val`]s. Everything else (the SQL text, the transactions' contents, row
//! decoding) lives in [`crate::sql_store`] and is shared. Both engines accept `$1`-style
//! placeholders and the same DML; only DDL (the migrations) differs.

use async_trait::async_trait;

use crate::{Engine, StoreError, StoreResult};

/// A value bound to a statement or read from a row. Nulls are typed, because
/// PostgreSQL types every parameter: a text null cannot go into a BIGINT column.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(Some(v))
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        Val::Int(v)
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(Some(v))
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(Some(v.to_string()))
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        Val::Text(v)
    }
}
impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Self {
        Val::Text(v.map(str::to_string))
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Bool(v)
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Self {
        Val::Bytes(v)
    }
}

/// Builds an argument list from values of mixed types: `args![id, 3_i64, None::<String>]`.
#[macro_export]
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::sql::Val::from($v)),*] };
}

/// What went wrong in a statement, as far as the shared code needs to know.
#[derive(Debug)]
pub enum SqlError {
    Unique,
    ForeignKey,
    Other(String),
}

impl From<SqlError> for StoreError {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Unique => StoreError::Backend("unique constraint violated".into()),
            SqlError::ForeignKey => StoreError::Backend("foreign key violated".into()),
            SqlError::Other(detail) => StoreError::Backend(detail),
        }
    }
}

pub type Row = Vec<Val>;

/// Runs statements: a pooled connection, or an open transaction.
#[async_trait]
pub trait Sql: Send {
    /// Runs a statement; returns the number of rows it changed.
    async fn execute(&mut self, sql: &str, args: Vec<Val>) -> Result<u64, SqlError>;
    /// Runs a query; returns its rows.
    async fn fetch(&mut self, sql: &str, args: Vec<Val>) -> Result<Vec<Row>, SqlError>;
}

/// A write transaction. Dropped without [`SqlTx::commit`], it rolls back.
#[async_trait]
pub trait SqlTx: Sql {
    async fn commit(self: Box<Self>) -> Result<(), SqlError>;
}

/// One engine: where connections and transactions come from.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn engine(&self) -> Engine;
    /// A connection for reads.
    async fn reader(&self) -> StoreResult<Box<dyn Sql>>;
    /// A transaction for writes. On SQLite it holds the database's write lock from its
    /// first statement (`BEGIN IMMEDIATE`), so it never fails half-way on a lock upgrade.
    async fn writer(&self) -> StoreResult<Box<dyn SqlTx>>;
    /// A transaction that writes only the per-patient index of the audit trail
    /// (`audit_index`), which runs beside the writer's and never holds it up. On SQLite the
    /// index is a file of its own with a connection of its own; elsewhere an ordinary
    /// transaction, whose row locks already keep it apart from appends.
    async fn index_writer(&self) -> StoreResult<Box<dyn SqlTx>> {
        self.writer().await
    }
    /// Appended to a `SELECT` whose rows must stay locked until commit: `FOR UPDATE` on
    /// PostgreSQL; nothing on SQLite, where the write transaction already excludes others.
    fn lock_rows(&self) -> &'static str;
    /// The highest migration applied.
    async fn schema_version(&self) -> StoreResult<i64>;
    /// True for a unit of work's backend, where a nested unit cannot begin.
    fn in_unit(&self) -> bool {
        false
    }
    /// True where write transactions run one at a time anyway (SQLite): appends that
    /// arrive together then share one transaction and one commit (see
    /// [`crate::append_group`]). Elsewhere each append has a transaction of its own,
    /// and they run side by side (PostgreSQL's row locks keep them apart).
    fn groups_appends(&self) -> bool {
        false
    }
}

/// Reads one typed column value; lenient with nulls (a null of any type is `None`).
pub trait FromVal: Sized {
    fn from_val(v: Val) -> Option<Self>;
}

impl FromVal for i64 {
    fn from_val(v: Val) -> Option<Self> {
        match v {
            Val::Int(Some(i)) => Some(i),
            Val::Bool(b) => Some(i64::from(b)),
            _ => None,
        }
    }
}
impl FromVal for String {
    fn from_val(v: Val) -> Option<Self> {
        match v {
            Val::Text(Some(s)) => Some(s),
            _ => None,
        }
    }
}
impl FromVal for bool {
    fn from_val(v: Val) -> Option<Self> {
        match v {
            Val::Bool(b) => Some(b),
            Val::Int(Some(i)) => Some(i != 0),
            _ => None,
        }
    }
}
impl FromVal for Vec<u8> {
    fn from_val(v: Val) -> Option<Self> {
        match v {
            Val::Bytes(b) => Some(b),
            _ => None,
        }
    }
}
impl<T: FromVal> FromVal for Option<T> {
    fn from_val(v: Val) -> Option<Self> {
        match v {
            Val::Int(None) | Val::Text(None) => Some(None),
            other => T::from_val(other).map(Some),
        }
    }
}

/// A row decoded into a tuple of typed columns.
pub trait FromRow: Sized {
    fn from_row(row: Row) -> StoreResult<Self>;
}

fn column<T: FromVal>(it: &mut std::vec::IntoIter<Val>, i: usize) -> StoreResult<T> {
    let v = it.next().ok_or_else(|| StoreError::Corrupt(format!("row has no column {i}")))?;
    T::from_val(v).ok_or_else(|| StoreError::Corrupt(format!("column {i} has an unexpected type")))
}

macro_rules! tuple_from_row {
    ($($t:ident),+) => {
        impl<$($t: FromVal),+> FromRow for ($($t,)+) {
            fn from_row(row: Row) -> StoreResult<Self> {
                let mut it = row.into_iter();
                let mut i = 0usize;
                Ok(($({ i += 1; column::<$t>(&mut it, i - 1)? },)+))
            }
        }
    };
}
tuple_from_row!(A);
tuple_from_row!(A, B);
tuple_from_row!(A, B, C);
tuple_from_row!(A, B, C, D);
tuple_from_row!(A, B, C, D, E);
tuple_from_row!(A, B, C, D, E, F);
tuple_from_row!(A, B, C, D, E, F, G);
tuple_from_row!(A, B, C, D, E, F, G, H);
tuple_from_row!(A, B, C, D, E, F, G, H, I);
tuple_from_row!(A, B, C, D, E, F, G, H, I, J);
tuple_from_row!(A, B, C, D, E, F, G, H, I, J, K);
tuple_from_row!(A, B, C, D, E, F, G, H, I, J, K, L);
tuple_from_row!(A, B, C, D, E, F, G, H, I, J, K, L, M);
tuple_from_row!(A, B, C, D, E, F, G, H, I, J, K, L, M, N);
tuple_from_row!(A, B, C, D, E, F, G, H, I, J, K, L, M, N, O);

/// Runs a query and decodes every row.
pub async fn fetch_all<T: FromRow>(sql: &mut dyn Sql, q: &str, args: Vec<Val>) -> StoreResult<Vec<T>> {
    sql.fetch(q, args).await?.into_iter().map(T::from_row).collect()
}

/// Runs a query and decodes its first row, if any.
pub async fn fetch_optional<T: FromRow>(sql: &mut dyn Sql, q: &str, args: Vec<Val>) -> StoreResult<Option<T>> {
    sql.fetch(q, args).await?.into_iter().next().map(T::from_row).transpose()
}

/// Runs a query and decodes the first column of its first row.
pub async fn fetch_scalar<T: FromVal>(sql: &mut dyn Sql, q: &str, args: Vec<Val>) -> StoreResult<Option<T>> {
    let Some(row) = sql.fetch(q, args).await?.into_iter().next() else { return Ok(None) };
    let mut it = row.into_iter();
    Ok(Some(column::<T>(&mut it, 0)?))
}

/// `($1, $2, $3), ($4, $5, $6)`: placeholders for `rows` rows of `columns` values,
/// numbered from `$1`.
pub fn values_list(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..columns {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(r * columns + c + 1).to_string());
        }
        out.push(')');
    }
    out
}

/// `$from, $from+1, ...`: `n` placeholders for an `IN (...)` list.
pub fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_lists() {
        assert_eq!(values_list(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(3, 2), "$3, $4");
    }

    #[test]
    fn rows_decode_leniently_with_nulls() {
        let row = vec![Val::Int(Some(3)), Val::Text(None), Val::Int(Some(1)), Val::Text(Some("x".into()))];
        let (a, b, c, d): (i64, Option<i64>, bool, String) = FromRow::from_row(row).unwrap();
        assert_eq!((a, b, c, d.as_str()), (3, None, true, "x"));
        let bad: StoreResult<(String,)> = FromRow::from_row(vec![Val::Int(Some(1))]);
        assert!(bad.is_err());
    }
}
