// A frontend's view of berth: book a slot with a client whose types come
// from openapi/openapi.json, get a 409 `capacity-exceeded` back as a typed
// problem, read `available` from it, and retry with what fits.
//
// Every problem carries `code` (its type's slug, the same on every
// deployment); the spec gives each type its own schema and each operation's
// errors as a union discriminated by `code`, so `switch (problem.code)`
// narrows a problem to its type, and `nextStep` below is checked by the
// compiler to handle every problem `POST /v1/bookings` can answer with
// (test/compile-fails.mjs shows the compiler refusing a misspelt member
// and a forgotten type).
//
//   BERTH_URL=http://127.0.0.1:8080 BERTH_TOKEN=<admin token> npm start
import createClient from "openapi-fetch";
import type { paths } from "./berth.js";

const baseUrl = process.env.BERTH_URL ?? "http://127.0.0.1:8080";
const token = process.env.BERTH_TOKEN;
if (!token) throw new Error("set BERTH_TOKEN to an admin token (berth token --role admin)");

const berth = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

/** What every problem has, whatever its type. */
type AnyProblem = { code: string; status: number; detail: string };

function fail(what: string, problem: AnyProblem | undefined): never {
  throw new Error(`${what}: ${problem ? `${problem.status} ${problem.code}: ${problem.detail}` : "no answer"}`);
}

const run = Date.now().toString(36);
const { data: room, error: roomError } = await berth.POST("/v1/resources", {
  body: { name: `Meeting room ${run}`, capacity: 3 },
});
if (!room) fail("create resource", roomError);

async function customer(name: string) {
  const { data, error } = await berth.POST("/v1/customers", {
    body: { email: `${name}-${run}@example.com`, name },
  });
  if (!data) fail("create customer", error);
  return data;
}
const ada = await customer("ada");
const bob = await customer("bob");

const day = new Date(Date.now() + 3 * 86_400_000);
day.setUTCHours(9, 0, 0, 0);
const slot = { start_at: day.toISOString(), end_at: new Date(day.getTime() + 3_600_000).toISOString() };

async function book(who: { id: string }, quantity: number, key: string) {
  return berth.POST("/v1/bookings", {
    params: { header: { "Idempotency-Key": key } },
    body: { resource_id: room!.id, customer_id: who.id, quantity, ...slot },
  });
}

/** Every problem `POST /v1/bookings` can answer with, as the spec lists them. */
type BookingProblem = NonNullable<Awaited<ReturnType<typeof book>>["error"]>;

/** What a booking form does next with each refusal, by its type. */
function nextStep(problem: BookingProblem): string {
  const elsewhen = (alternatives: { start_at: string }[] | undefined) =>
    alternatives?.length ? `offer ${alternatives.map((a) => a.start_at).join(", ")}` : "ask for another time";
  switch (problem.code) {
    case "capacity-exceeded":
      return problem.available > 0
        ? `retry with ${problem.available} of ${problem.capacity}`
        : `join the waiting list behind ${problem.waitlist_length ?? 0}, or ${elsewhen(problem.alternatives)}`;
    case "no-resource-available":
      return `no member of group ${problem.group_id} is free: ${elsewhen(problem.alternatives)}`;
    case "duplicate-booking":
      return `show the customer's booking ${problem.existing_booking_id}`;
    case "booking-limit-reached":
      return `the customer holds ${problem.active_bookings} of ${problem.limit} bookings allowed`;
    case "notice-too-short":
      return `start at ${problem.earliest_start_at} or later`;
    case "beyond-booking-horizon":
      return `start at ${problem.latest_start_at} or earlier`;
    case "outside-opening-hours":
      return `open then (${problem.time_zone}): ${problem.open_intervals.map((i) => `${i.local_start}-${i.local_end}`).join(", ") || "closed"}`;
    case "not-on-slot-grid":
      return `start on the ${problem.slot_step_seconds} s grid: ${elsewhen(problem.alternatives)}`;
    case "resource-inactive":
      return `resource ${problem.resource_id} takes no bookings`;
    case "validation-error":
      return `fix ${problem.errors.map((e) => e.pointer).join(", ")}`;
    case "idempotency-key-in-use":
    case "rate-limited":
    case "service-unavailable":
    case "schema-ahead-of-binary":
      return "retry after Retry-After seconds";
    case "unauthenticated":
    case "forbidden":
      return "sign in again";
    case "idempotency-key-invalid":
    case "idempotency-key-reused":
    case "malformed-request":
    case "payload-too-large":
    case "unsupported-media-type":
    case "internal-error":
      return `report ${problem.instance}`;
    default: {
      const unhandled: never = problem;
      return unhandled;
    }
  }
}

const first = await book(ada, 2, `${run}-ada`);
if (!first.data) fail("first booking", first.error);
console.log(`booked ${first.data.quantity} for ada: ${first.data.status}`);

// Bob wants 2 of the 3 units: only 1 is left.
const second = await book(bob, 2, `${run}-bob-2`);
if (second.data) throw new Error("expected a capacity-exceeded problem, got a booking");
const problem = second.error;
if (problem?.code !== "capacity-exceeded" || second.response.status !== 409) fail("second booking", problem);
// Narrowed to the capacity problem: `available` is a number, always there.
const available: number = problem.available;
console.log(`409 ${problem.code}: ${problem.requested} requested, ${available} available; next: ${nextStep(problem)}`);
if (available < 1) throw new Error("nothing left to retry with");

// A new intent (a smaller quantity) gets a new Idempotency-Key.
const retry = await book(bob, available, `${run}-bob-${available}`);
if (!retry.data) fail("retry", retry.error);
console.log(`booked ${retry.data.quantity} for bob after the retry: ${retry.data.status}`);
