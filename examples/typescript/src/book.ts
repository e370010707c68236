// A frontend's view of berth: book a slot with a client whose types come
// from openapi/openapi.json, get a 409 `capacity-exceeded` back as a typed
// problem, read `available` from it, and retry with what fits.
//
//   BERTH_URL=http://127.0.0.1:8080 BERTH_TOKEN=<admin token> npm start
import createClient from "openapi-fetch";
import type { components, paths } from "./berth.js";

type Problem = components["schemas"]["Problem"];

const baseUrl = process.env.BERTH_URL ?? "http://127.0.0.1:8080";
const token = process.env.BERTH_TOKEN;
if (!token) throw new Error("set BERTH_TOKEN to an admin token (berth token --role admin)");

const berth = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

/** Switch on the problem's type, never on its prose. */
function slug(problem: Problem): string {
  return problem.type.split("/").pop() ?? "";
}

function fail(what: string, problem: Problem | undefined): never {
  throw new Error(`${what}: ${problem ? `${problem.status} ${slug(problem)}: ${problem.detail}` : "no answer"}`);
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

const first = await book(ada, 2, `${run}-ada`);
if (!first.data) fail("first booking", first.error);
console.log(`booked ${first.data.quantity} for ada: ${first.data.status}`);

// Bob wants 2 of the 3 units: only 1 is left.
const second = await book(bob, 2, `${run}-bob-2`);
if (second.data) throw new Error("expected a capacity-exceeded problem, got a booking");
const problem = second.error;
if (!problem || second.response.status !== 409 || slug(problem) !== "capacity-exceeded") {
  fail("second booking", problem);
}
const available = problem.available ?? 0;
console.log(`409 ${slug(problem)}: ${problem.requested} requested, ${available} available`);
if (available < 1) throw new Error("nothing left to retry with");

// A new intent (a smaller quantity) gets a new Idempotency-Key.
const retry = await book(bob, available, `${run}-bob-${available}`);
if (!retry.data) fail("retry", retry.error);
console.log(`booked ${retry.data.quantity} for bob after the retry: ${retry.data.status}`);
