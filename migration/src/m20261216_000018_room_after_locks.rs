//! Two functions that let the one-round-trip booking statement
//! (docs/design.md §30, §35) prove room from the intervals, read after its
//! locks, where the usage summary cannot prove it (two bookings side by
//! side in one hour of a one-unit resource fill its row twice) or a row of
//! it changed since the statement began (a neighbour in the same hour
//! committed meanwhile).
//!
//! - `berth_near(resource, except, reach_from, from_at, to_at, active)`:
//!   of the bookings of `resource` but `except` whose occupied time
//!   overlaps `[from_at, to_at)` (and started after `reach_from`, the
//!   bound every capacity read of berth takes: nothing occupies longer),
//!   one text naming each with its row version (`id@xmin`, in id order),
//!   and the units of those in an `active` status. SQL, `STABLE`: it reads
//!   with the snapshot of the query that calls it.
//! - `berth_room_after_locks(fits, room, seen, resource, except,
//!   reach_from, from_at, to_at, active)`: `VOLATILE`, so PostgreSQL takes
//!   a fresh snapshot for its query (under READ COMMITTED): the same
//!   question asked now, after the statement's locks. True when the text
//!   is still `seen` (no booking near changed since the statement's own
//!   snapshot, which its other reads used) and there is room: the summary's
//!   row `fits`, or the units near are at most `room`.
//!
//! SQLite has no such statement: nothing there.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: &[&str] = &[
    "CREATE FUNCTION berth_near(uuid, uuid, timestamptz, timestamptz, timestamptz, text[]) \
RETURNS TABLE (seen text, units bigint) LANGUAGE sql STABLE AS $$ \
SELECT coalesce(string_agg(b.id::text || '@' || b.xmin::text, ',' ORDER BY b.id), ''), \
coalesce(sum(b.quantity) FILTER (WHERE b.status = ANY ($6)), 0)::bigint \
FROM booking b WHERE b.resource_id = $1 AND b.id <> $2 AND b.occupied_start_at > $3 \
AND b.occupied_start_at < $5 AND b.occupied_end_at > $4 $$",
    "CREATE FUNCTION berth_room_after_locks(boolean, bigint, text, uuid, uuid, timestamptz, timestamptz, \
timestamptz, text[]) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$ BEGIN \
RETURN (SELECT near.seen = $3 AND ($1 OR near.units <= $2) FROM berth_near($4, $5, $6, $7, $8, $9) AS near); \
END $$",
];

const DROP: &[&str] = &[
    "DROP FUNCTION IF EXISTS berth_room_after_locks(boolean, bigint, text, uuid, uuid, timestamptz, timestamptz, \
timestamptz, text[])",
    "DROP FUNCTION IF EXISTS berth_near(uuid, uuid, timestamptz, timestamptz, timestamptz, text[])",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            for sql in CREATE {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            for sql in DROP {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }
        Ok(())
    }
}
