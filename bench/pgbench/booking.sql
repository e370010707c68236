-- One keyed booking, as berth runs it on PostgreSQL, in plain SQL (taken
-- from the server's statement log, 2026-11-30, after #17): the
-- Idempotency-Key lookup (one read, no transaction), then the decision
-- transaction: one statement locking the resource row FOR KEY SHARE and
-- the hour bucket of the booking (an advisory lock; berth tries it without
-- waiting first, with a fallback that waits, which costs the same round
-- trip when nothing is taken) and reading the customer and the database
-- clock after the locks; one statement reading the customer's own
-- bookings there (duplicates and limits) joined with the usage summary's
-- busiest hour of the occupied time (berth reads the intervals only on a
-- close call); one statement inserting the booking, its history event,
-- its outbox event, its hour in the usage summary and the idempotency
-- record with the response: 6 round trips, 1 commit (it was 15 and 2). The slot and the booking's id are
-- computed in the lock's statement, as berth computes them in the process.
-- Used by `berth-bench` (pgbench -M prepared, like berth's driver) as the
-- database's own limit. It books on the `limit-N` resources (huge
-- capacity), so it breaks no rule whatever it inserts.
\set r random(0, :nres - 1)
\set c random(0, :ncust - 1)
\set day random(1, 365)
\set hour random(0, 23)
\set k random(1, 1000000000000)
SELECT id FROM idempotency_record WHERE principal = 'pgbench' AND idempotency_key = CAST(:client_id AS text) || '-' || CAST(:k AS text) AND method = 'POST' AND route = '/v1/bookings' LIMIT 1;
BEGIN;
WITH locked AS MATERIALIZED (SELECT resource.* FROM resource WHERE name_key = 'limit-' || CAST(:r AS text) FOR KEY SHARE),
  tried AS MATERIALIZED (SELECT locked.*, pg_advisory_xact_lock(hashtextextended(CAST(:r AS text) || ':' || CAST(:day AS text) || ':' || CAST(:hour AS text), 0))::text AS got FROM locked)
  SELECT tried.id AS res_id, tried.max_booking_duration_seconds AS res_max,
    (SELECT id FROM customer WHERE email_key = 'bench-' || CAST(:c AS text) || '@bench.example') AS cus_id, clock_timestamp() AS now,
    date_trunc('hour', now()) + make_interval(days => CAST(:day AS int), hours => CAST(:hour AS int)) AS s,
    floor(extract(epoch FROM date_trunc('hour', now())) / 3600)::bigint + 24 * CAST(:day AS int) + CAST(:hour AS int) AS bucket,
    gen_random_uuid() AS booking_id FROM tried \gset
SELECT o.id, s.busiest FROM
  (SELECT MAX(units) AS busiest FROM resource_usage WHERE resource_id = CAST(:res_id AS uuid)
    AND bucket BETWEEN CAST(:bucket AS bigint) AND CAST(:bucket AS bigint)) AS s
  LEFT JOIN (SELECT id, start_at FROM booking WHERE customer_id = CAST(:cus_id AS uuid) AND resource_id = CAST(:res_id AS uuid)
    AND start_at < CAST(:s AS timestamptz) + interval '1 hour' AND start_at > CAST(:s AS timestamptz) - make_interval(secs => CAST(:res_max AS float8))
    AND end_at > CAST(:s AS timestamptz)
    AND (status IN ('confirmed', 'checked_in') OR (status = 'held' AND hold_expires_at > now())) ORDER BY start_at LIMIT 1) AS o ON true
  ORDER BY o.start_at;
WITH i0 AS (INSERT INTO booking (id, resource_id, group_id, bundle_id, bundle_item, customer_id, start_at, end_at, quantity, status, hold_expires_at, notes,
    buffer_before_seconds, buffer_after_seconds, occupied_start_at, occupied_end_at, version, created_at, updated_at)
  VALUES (CAST(:booking_id AS uuid), CAST(:res_id AS uuid), NULL, NULL, NULL, CAST(:cus_id AS uuid), CAST(:s AS timestamptz), CAST(:s AS timestamptz) + interval '1 hour',
    1, 'confirmed', NULL, NULL, 0, 0, CAST(:s AS timestamptz), CAST(:s AS timestamptz) + interval '1 hour', 1, now(), now())),
i1 AS (INSERT INTO booking_event (id, booking_id, from_status, to_status, action, actor_sub, actor_role, reason, request_id, policy_overridden, at)
  VALUES (gen_random_uuid(), CAST(:booking_id AS uuid), NULL, 'confirmed', 'create', 'bench', 'admin', NULL, NULL, false, now())),
i2 AS (INSERT INTO outbox_event (position, type, subject_id, occurred_at, data, resource_id, previous_resource_id, window_start, window_end)
  VALUES (NULL, 'booking.created', CAST(:booking_id AS uuid), now(), '{"booking":{}}', CAST(:res_id AS uuid), NULL, CAST(:s AS timestamptz), CAST(:s AS timestamptz) + interval '1 hour')),
i3 AS (INSERT INTO resource_usage (resource_id, bucket, units, stamp) VALUES (CAST(:res_id AS uuid), CAST(:bucket AS bigint), 1, CAST(random() * 9e18 AS bigint))
  ON CONFLICT (resource_id, bucket) DO UPDATE SET units = resource_usage.units + excluded.units, stamp = excluded.stamp)
INSERT INTO idempotency_record (id, principal, idempotency_key, method, route, fingerprint, state, response_status, response_headers, response_body, created_at, expires_at)
  VALUES (gen_random_uuid(), 'pgbench', CAST(:client_id AS text) || '-' || CAST(:k AS text), 'POST', '/v1/bookings', md5(CAST(random() AS text)), 'completed', 201, '[]', CAST('\x7b7d' AS bytea), now(), now() + interval '1 day')
  ON CONFLICT (principal, idempotency_key, method, route) DO NOTHING;
COMMIT;
