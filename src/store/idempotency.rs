//! Idempotency records: one row per (principal, key, method, route) with
//! the stored response, written in the same transaction as the request's
//! effect. (Versions before docs/design.md §6 first wrote an `in_flight`
//! row; such rows are still read.)

use chrono::{DateTime, Utc};
use entity::idempotency_record::{ActiveModel, Column, Entity, Model};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::{Expr, InsertStatement, OnConflict},
};
use uuid::Uuid;

use super::StoreResult;

/// A response as stored: status, headers as (name, value) pairs, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseRow {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What is known about a key.
#[derive(Clone, Debug)]
pub struct Record {
    pub id: Uuid,
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `None` while the first request is still running.
    pub response: Option<ResponseRow>,
}

/// Where a key lives: the unique (principal, key, method, route).
#[derive(Clone, Copy, Debug)]
pub struct KeyScope<'a> {
    pub principal: &'a str,
    pub key: &'a str,
    pub method: &'a str,
    pub route: &'a str,
}

fn to_record(m: Model) -> Record {
    let response = match (m.state.as_str(), m.response_status) {
        ("completed", Some(status)) => Some(ResponseRow {
            status: u16::try_from(status).unwrap_or(500),
            headers: m.response_headers.as_deref().and_then(|h| serde_json::from_str(h).ok()).unwrap_or_default(),
            body: m.response_body.unwrap_or_default(),
        }),
        _ => None,
    };
    Record { id: m.id, fingerprint: m.fingerprint, created_at: m.created_at, expires_at: m.expires_at, response }
}

/// Inserts the key's record, completed with `response`; `false` when the
/// key is already present (`ON CONFLICT DO NOTHING`: on PostgreSQL it waits
/// for a concurrent insert of the same key to commit or roll back, and
/// never aborts the transaction).
pub async fn insert_completed(
    conn: &impl ConnectionTrait,
    scope: KeyScope<'_>,
    fingerprint: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    response: &ResponseRow,
) -> StoreResult<bool> {
    let insert = insert_completed_statement(scope, fingerprint, now, expires_at, response);
    Ok(conn.execute(&insert).await?.rows_affected() == 1)
}

/// The insert `insert_completed` runs, to run with others
/// (`batch::Inserts`, last: what it wrote is the batch's count).
pub fn insert_completed_statement(
    scope: KeyScope<'_>,
    fingerprint: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    response: &ResponseRow,
) -> InsertStatement {
    let row = ActiveModel {
        id: Set(Uuid::now_v7()),
        principal: Set(scope.principal.to_owned()),
        idempotency_key: Set(scope.key.to_owned()),
        method: Set(scope.method.to_owned()),
        route: Set(scope.route.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        state: Set("completed".into()),
        response_status: Set(Some(i32::from(response.status))),
        response_headers: Set(Some(headers_json(&response.headers))),
        response_body: Set(Some(response.body.clone())),
        created_at: Set(now),
        expires_at: Set(expires_at),
    };
    Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::Principal, Column::IdempotencyKey, Column::Method, Column::Route])
                .do_nothing()
                .to_owned(),
        )
        .into_query()
}

fn headers_json(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "[]".into())
}

pub async fn find(conn: &impl ConnectionTrait, scope: KeyScope<'_>) -> StoreResult<Option<Record>> {
    let row = Entity::find()
        .filter(Column::Principal.eq(scope.principal))
        .filter(Column::IdempotencyKey.eq(scope.key))
        .filter(Column::Method.eq(scope.method))
        .filter(Column::Route.eq(scope.route))
        .one(conn)
        .await?;
    Ok(row.map(to_record))
}

/// Replaces the record `id` (expired, or in flight and abandoned) with a
/// completed one, if its `created_at` is still the one we saw. Returns
/// whether it was replaced.
pub async fn replace(
    conn: &impl ConnectionTrait,
    id: Uuid,
    seen_created_at: DateTime<Utc>,
    fingerprint: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    response: &ResponseRow,
) -> StoreResult<bool> {
    let result = Entity::update_many()
        .col_expr(Column::Fingerprint, Expr::value(fingerprint))
        .col_expr(Column::State, Expr::value("completed"))
        .col_expr(Column::ResponseStatus, Expr::value(i32::from(response.status)))
        .col_expr(Column::ResponseHeaders, Expr::value(headers_json(&response.headers)))
        .col_expr(Column::ResponseBody, Expr::value(response.body.clone()))
        .col_expr(Column::CreatedAt, Expr::value(now))
        .col_expr(Column::ExpiresAt, Expr::value(expires_at))
        .filter(Column::Id.eq(id))
        .filter(Column::CreatedAt.eq(seen_created_at))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes up to `limit` records that expired by `now`; returns how many.
pub async fn delete_expired(conn: &impl ConnectionTrait, now: DateTime<Utc>, limit: u64) -> StoreResult<u64> {
    let ids: Vec<Uuid> = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::ExpiresAt.lte(now))
        .order_by_asc(Column::ExpiresAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let result = Entity::delete_many().filter(Column::Id.is_in(ids)).exec(conn).await?;
    Ok(result.rows_affected)
}
