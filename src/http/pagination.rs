//! Cursor pagination: `?limit=` (1..=200, default 50) and an opaque
//! `?cursor=` (the last id of the previous page, base64url). Ids are UUIDv7,
//! so "after this id" is "created after this one" and pages are stable while
//! rows are added.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;
use validator::Validate;

use super::problem::Problem;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size.
    #[validate(range(min = 1, max = 200, message = "must be between 1 and 200"))]
    #[param(minimum = 1, maximum = 200, default = 50)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$", max_length = 22)]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }

    /// The id to continue after.
    pub fn after(&self) -> Result<Option<Uuid>, Problem> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }
}

fn decode_cursor(cursor: &str) -> Result<Uuid, Problem> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| Problem::invalid("/cursor", "is not a cursor returned by this list"))
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Cuts a fetch of `limit + 1` rows into a page and the next cursor.
pub fn paginate<T>(rows: Vec<T>, limit: u32, id_of: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<String>) {
    cut(rows, limit, |row| encode_cursor(id_of(row)))
}

/// Cuts a fetch of `limit + 1` rows into a page and the cursor `cursor_of`
/// makes of its last row, when there is more.
pub fn cut<T>(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(cursor_of);
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        assert!(decode_cursor("not-a-cursor").is_err());
    }

    #[test]
    fn paginate_reports_a_next_cursor_only_when_there_is_more() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let (page, next) = paginate(ids.clone(), 2, |id| *id);
        assert_eq!(page, ids[..2]);
        assert_eq!(next, Some(encode_cursor(ids[1])));
        let (page, next) = paginate(ids[..2].to_vec(), 2, |id| *id);
        assert_eq!(page.len(), 2);
        assert_eq!(next, None);
    }
}
