-- One keyed booking, as berth runs it on PostgreSQL, in plain SQL (taken
-- from the server's statement log, 2026-11-30): the Idempotency-Key claim
-- (its own transaction, with the decision clock), then the decision
-- transaction: lock the resource, check the customer, read the database
-- clock (berth decides at `clock_timestamp()` after the lock), the
-- customer's own bookings there (duplicates and limits), the capacity
-- aggregate over the occupied time (berth reads the intervals only on a
-- close call), insert the booking, its history event and its outbox event,
-- and complete the idempotency record: 15 round trips, 2 commits. Used by
-- `berth-bench` (pgbench -M prepared, like berth's driver) as the
-- database's own limit. It books on the `limit-N` resources (huge
-- capacity), so it breaks no rule whatever it inserts.
\set r random(0, :nres - 1)
\set c random(0, :ncust - 1)
\set day random(1, 365)
\set hour random(0, 23)
BEGIN;
SELECT clock_timestamp();
INSERT INTO idempotency_record (id, principal, idempotency_key, method, route, fingerprint, state, created_at, expires_at)
  VALUES (gen_random_uuid(), 'pgbench', CAST(gen_random_uuid() AS text), 'POST', '/v1/bookings', md5(CAST(random() AS text)), 'in_flight', now(), now() + interval '1 day')
  ON CONFLICT (principal, idempotency_key, method, route) DO NOTHING RETURNING id AS idem_id \gset
COMMIT;
BEGIN;
SELECT id AS res_id, max_booking_duration_seconds AS res_max FROM resource WHERE name_key = 'limit-' || CAST(:r AS text) FOR UPDATE \gset
SELECT id AS cus_id FROM customer WHERE email_key = 'bench-' || CAST(:c AS text) || '@bench.example' \gset
SELECT clock_timestamp();
SELECT date_trunc('hour', now()) + make_interval(days => CAST(:day AS int), hours => CAST(:hour AS int)) AS s \gset
SELECT id FROM booking WHERE customer_id = CAST(:cus_id AS uuid) AND resource_id = CAST(:res_id AS uuid)
  AND start_at < CAST(:s AS timestamptz) + interval '1 hour' AND start_at > CAST(:s AS timestamptz) - make_interval(secs => CAST(:res_max AS float8))
  AND end_at > CAST(:s AS timestamptz)
  AND (status IN ('confirmed', 'checked_in') OR (status = 'held' AND hold_expires_at > now())) ORDER BY start_at LIMIT 1;
SELECT SUM(quantity) FROM booking WHERE resource_id = CAST(:res_id AS uuid)
  AND occupied_start_at < CAST(:s AS timestamptz) + interval '1 hour' AND occupied_start_at > CAST(:s AS timestamptz) - make_interval(secs => CAST(:res_max AS float8))
  AND occupied_end_at > CAST(:s AS timestamptz)
  AND (status IN ('confirmed', 'checked_in') OR (status = 'held' AND hold_expires_at > now()));
SELECT gen_random_uuid() AS booking_id \gset
INSERT INTO booking (id, resource_id, group_id, bundle_id, bundle_item, customer_id, start_at, end_at, quantity, status, hold_expires_at, notes,
    buffer_before_seconds, buffer_after_seconds, occupied_start_at, occupied_end_at, version, created_at, updated_at)
  VALUES (CAST(:booking_id AS uuid), CAST(:res_id AS uuid), NULL, NULL, NULL, CAST(:cus_id AS uuid), CAST(:s AS timestamptz), CAST(:s AS timestamptz) + interval '1 hour',
    1, 'confirmed', NULL, NULL, 0, 0, CAST(:s AS timestamptz), CAST(:s AS timestamptz) + interval '1 hour', 1, now(), now());
INSERT INTO booking_event (id, booking_id, from_status, to_status, action, actor_sub, actor_role, reason, request_id, policy_overridden, at)
  VALUES (gen_random_uuid(), CAST(:booking_id AS uuid), NULL, 'confirmed', 'create', 'bench', 'admin', NULL, NULL, false, now());
INSERT INTO outbox_event (position, type, subject_id, occurred_at, data, resource_id, previous_resource_id, window_start, window_end)
  VALUES (NULL, 'booking.created', CAST(:booking_id AS uuid), now(), '{"booking":{}}', CAST(:res_id AS uuid), NULL, CAST(:s AS timestamptz), CAST(:s AS timestamptz) + interval '1 hour');
UPDATE idempotency_record SET state = 'completed', response_status = 201, response_headers = '[]', response_body = CAST('\x7b7d' AS bytea)
  WHERE id = CAST(:idem_id AS uuid) AND state = 'in_flight';
COMMIT;
