-- One keyed booking as berth's one-round-trip statement runs it on
-- PostgreSQL (design §30, `store::one_trip`), in plain SQL: the resource
-- row FOR KEY SHARE SKIP LOCKED, the hour's advisory lock tried, the
-- hour's summary row as the snapshot saw it, the conditional upsert, the
-- booking, its history and outbox events and the key's record, then the
-- row of checks with the clock read last. One autocommit statement, one
-- round trip. Where berth would call `berth_fall_back` (and roll back),
-- this script only returns the failed check's name, so pgbench never
-- stops on it (draws of one hour on one `limit-N` resource do meet). The
-- slot, ids and payloads are computed in the statement, as booking.sql
-- does. Run by `berth-bench --scenario peer` on PostgreSQL beside
-- booking.sql, on the same `limit-N` resources.
\set r random(0, :nres - 1)
\set c random(0, :ncust - 1)
\set day random(1, 365)
\set hour random(0, 23)
\set k random(1, 1000000000000)
WITH p AS MATERIALIZED (SELECT
    (SELECT id FROM resource WHERE name_key = 'limit-' || CAST(:r AS text)) AS res_id,
    (SELECT id FROM customer WHERE email_key = 'bench-' || CAST(:c AS text) || '@bench.example') AS cus_id,
    date_trunc('hour', now()) + make_interval(days => CAST(:day AS int), hours => CAST(:hour AS int)) AS s,
    floor(extract(epoch FROM date_trunc('hour', now())) / 3600)::bigint + 24 * CAST(:day AS int) + CAST(:hour AS int) AS bucket,
    gen_random_uuid() AS booking_id),
locked AS MATERIALIZED (SELECT resource.id FROM resource, p WHERE resource.id = p.res_id AND resource.waitlist_active = 0
    FOR KEY SHARE OF resource SKIP LOCKED),
tried AS MATERIALIZED (SELECT CASE WHEN pg_try_advisory_xact_lock(hashtextextended(CAST(:r AS text) || ':' || CAST(:day AS text) || ':' || CAST(:hour AS text), 0))
    THEN true END AS got FROM locked),
seen AS MATERIALIZED (SELECT resource_usage.bucket, resource_usage.xmin AS seen FROM resource_usage, p
    WHERE resource_usage.resource_id = p.res_id AND resource_usage.bucket BETWEEN p.bucket AND p.bucket),
upserted AS (INSERT INTO resource_usage (resource_id, bucket, units, stamp)
    SELECT p.res_id, p.bucket, 1, CAST(:k AS bigint) FROM tried CROSS JOIN p WHERE tried.got
    ON CONFLICT (resource_id, bucket) DO UPDATE SET units = resource_usage.units + excluded.units, stamp = excluded.stamp
    WHERE resource_usage.units + excluded.units <= 1000000
      AND resource_usage.xmin = (SELECT seen.seen FROM seen WHERE seen.bucket = resource_usage.bucket)
    RETURNING bucket),
i0 AS (INSERT INTO booking (id, resource_id, group_id, bundle_id, bundle_item, customer_id, start_at, end_at, quantity, status, hold_expires_at, notes,
    buffer_before_seconds, buffer_after_seconds, occupied_start_at, occupied_end_at, version, counted_version, created_at, updated_at)
  SELECT p.booking_id, p.res_id, NULL, NULL, NULL, p.cus_id, p.s, p.s + interval '1 hour', 1, 'confirmed', NULL, NULL, 0, 0,
    p.s, p.s + interval '1 hour', 1, 1, now(), now() FROM p),
i1 AS (INSERT INTO booking_event (id, booking_id, from_status, to_status, action, actor_sub, actor_role, reason, request_id, policy_overridden, at)
  SELECT gen_random_uuid(), p.booking_id, NULL, 'confirmed', 'create', 'bench', 'admin', NULL, NULL, false, now() FROM p),
i2 AS (INSERT INTO outbox_event (position, type, subject_id, occurred_at, data, resource_id, previous_resource_id, window_start, window_end)
  SELECT NULL, 'booking.created', p.booking_id, now(), '{"booking":{}}', p.res_id, NULL, p.s, p.s + interval '1 hour' FROM p),
recorded AS (INSERT INTO idempotency_record (id, principal, idempotency_key, method, route, fingerprint, state, response_status, response_headers, response_body, created_at, expires_at)
  VALUES (gen_random_uuid(), 'pgbench', CAST(:client_id AS text) || '-' || CAST(:k AS text), 'POST', '/v1/bookings', md5(CAST(random() AS text)), 'completed', 201, '[]', CAST('\x7b7d' AS bytea), now(), now() + interval '1 day')
  ON CONFLICT (principal, idempotency_key, method, route) DO NOTHING RETURNING 1),
checks AS MATERIALIZED (SELECT (SELECT count(*) FROM locked) AS locked, (SELECT bool_and(got) FROM tried) AS got,
    (SELECT count(*) FROM upserted) AS hours, (SELECT count(*) FROM recorded) = 1 AS keyed,
    EXISTS (SELECT 1 FROM customer, p WHERE customer.id = p.cus_id) AS customer,
    EXISTS (SELECT 1 FROM booking, p WHERE booking.customer_id = p.cus_id AND booking.resource_id = p.res_id
      AND booking.start_at < p.s + interval '1 hour' AND booking.start_at > p.s - interval '1 day' AND booking.end_at > p.s
      AND (booking.status IN ('confirmed', 'checked_in') OR (booking.status IN ('held', 'pending') AND booking.hold_expires_at > now()))) AS own,
    EXISTS (SELECT 1 FROM booking, p WHERE booking.resource_id = p.res_id AND booking.counted_version IS DISTINCT FROM booking.version
      AND booking.status IN ('held', 'pending', 'confirmed', 'checked_in')
      AND booking.occupied_start_at < p.s + interval '1 hour' AND booking.occupied_end_at > p.s) AS uncounted),
judged AS MATERIALIZED (SELECT checks.*, clock_timestamp() AS clock FROM checks)
SELECT CASE WHEN locked = 0 THEN 'resource' WHEN got IS NOT TRUE THEN 'busy' WHEN hours <> 1 THEN 'summary'
  WHEN NOT customer THEN 'customer' WHEN own THEN 'own' WHEN uncounted THEN 'uncounted' WHEN NOT keyed THEN 'key'
  ELSE clock::text END AS verdict FROM judged;
