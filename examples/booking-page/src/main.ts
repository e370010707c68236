// A booking page on berth, with nothing but the typed client generated from
// openapi/openapi.json (openapi-typescript + openapi-fetch):
//
// - a week of slots (`GET /v1/resources/{id}/slots`) in the resource's time
//   zone, with the viewer's own time beside each one;
// - hold a slot (`POST /v1/bookings`, `hold: true`) with an Idempotency-Key,
//   retried with the same key when the network fails; a countdown to the
//   hold's end; confirm or cancel it (`If-Match` with the hold's ETag);
// - every refusal is a problem: its title and detail are shown; where the
//   page reacts to one, it switches on the problem's `code` over exactly the
//   problem types the spec gives that operation (exhaustively: a type the
//   spec adds is a compile error until the page decides what to do with
//   it); a 409 offers its `alternatives` as buttons; a 412 reloads the
//   booking and says why; a 429 waits the `Retry-After` it names;
// - the week reloads when `GET /v1/resources/{id}/changes` (Server-Sent
//   Events) says the resource's time changed, e.g. someone else booked;
// - a full slot (409 `capacity-exceeded`, with its `waitlist_length`) can
//   be waited for: "Join the waiting list" (`POST /v1/waitlist`) shows the
//   place in the queue, re-read (`GET /v1/waitlist/{id}`) whenever the
//   change stream reports a change; when units free, berth offers them as
//   a hold for us (its `waitlist_entry_id` names the entry), shown like any
//   hold: confirm it before it runs out.
// - where the resource's policy asks for approval, a customer's confirmed
//   hold is a request (`pending`) until `approval_expires_at`; it is
//   re-read whenever the change stream reports a change, so an admin's
//   approval (`confirmed`) or decline, or its running out (`declined`),
//   shows live.
//
// Query parameters: `token` (kept in sessionStorage, then removed from the
// address bar), `resource` and `customer` (preselect). berth's address is
// the page's own origin, or VITE_BERTH_URL at build time when the page is
// served elsewhere (then berth needs BERTH_CORS_ORIGINS); never taken from
// the address bar, which anyone can put in a link.
/// <reference types="vite/client" />
import createClient from "openapi-fetch";
import type { components, paths } from "./berth";

/**
 * Any problem berth answers with: one of the spec's `…Problem` types, a
 * union discriminated on `code` (the type's slug, a constant in each). As
 * such only the members every type has (code, title, detail, status) can
 * be read from it: enough to show any refusal.
 */
type Problem = Extract<components["schemas"][keyof components["schemas"]], { code: string }>;
/**
 * The problems an operation can answer with: the bodies of its 4xx and 5xx
 * responses. Switch on `code` to reach a type's own members.
 */
type ProblemOf<Operation> = Operation extends { responses: infer Responses }
  ? {
      [Status in keyof Responses]: `${Status & number}` extends `4${string}` | `5${string}`
        ? Responses[Status] extends { content: { "application/problem+json": infer Body } }
          ? Body
          : never
        : never;
    }[keyof Responses]
  : never;
/** Why a hold (`POST /v1/bookings`) was refused. */
type HoldProblem = ProblemOf<paths["/v1/bookings"]["post"]>;
/** Why joining a waiting list (`POST /v1/waitlist`) was refused. */
type JoinProblem = ProblemOf<paths["/v1/waitlist"]["post"]>;
/** Why confirming or cancelling a booking was refused. */
type ActProblem = ProblemOf<paths["/v1/bookings/{id}/confirm"]["post"] | paths["/v1/bookings/{id}/cancel"]["post"]>;
type Alternative = components["schemas"]["Alternative"];
type Booking = components["schemas"]["BookingResponse"];
type Resource = components["schemas"]["ResourceResponse"];
type Slot = components["schemas"]["SlotResponse"];
type Entry = components["schemas"]["WaitlistEntryResponse"];
/** The slot a refused request asked for, to wait for it or book it. */
type Attempt = { startAt: string; endAt: string };

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const query = new URLSearchParams(location.search);
const api: string = import.meta.env.VITE_BERTH_URL ?? location.origin;
if (query.has("token")) {
  sessionStorage.setItem("berth-token", query.get("token") ?? "");
  query.delete("token");
  history.replaceState(null, "", `${location.pathname}${query.size ? `?${query}` : ""}`);
}
const token = sessionStorage.getItem("berth-token") ?? "";

/** Shows a passing note (waiting, retrying) or a problem. */
function say(text: string, kind: "note" | "problem" = "note") {
  const box = $("message");
  box.hidden = false;
  box.dataset.kind = kind;
  box.dataset.type = "";
  box.replaceChildren(text);
}

function quiet() {
  $("message").hidden = true;
}

/**
 * fetch, patiently: a network failure is retried (the same Request, so the
 * same Idempotency-Key: berth answers a repeat with the first answer, never
 * a second booking), and a 429 waits the Retry-After berth names.
 */
async function patientFetch(request: Request): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    let response: Response;
    try {
      response = await fetch(request.clone());
    } catch (err) {
      if (attempt >= 4) throw err;
      say(`The network failed; trying again (${attempt})…`);
      await sleep(400 * 2 ** attempt);
      continue;
    }
    // 429, or this very request still running under its key (a retry after
    // the network lost the first answer): wait as berth asks, send again.
    const busy = response.status === 429 || (response.status === 409 && (await codeOf(response)) === "idempotency-key-in-use");
    if (busy && attempt < 4) {
      const wait = Number(response.headers.get("retry-after") ?? "1");
      say(`berth asks us to wait ${wait} s…`);
      await sleep(wait * 1000);
      continue;
    }
    if (response.status === 401) signOut();
    return response;
  }
}

/** The `code` of the problem a raw answer carries ("" for none). */
async function codeOf(response: Response): Promise<string> {
  try {
    const body = await response.clone().json();
    return typeof body?.code === "string" ? body.code : "";
  } catch {
    return "";
  }
}

/** The token was refused (expired, revoked): ask for another. */
function signOut() {
  sessionStorage.removeItem("berth-token");
  $("app").hidden = true;
  $("sign-in").hidden = false;
}

/** An Idempotency-Key: one per intent, the same for each retry of it. */
function newKey(): string {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Outside a secure context (plain http on a LAN address) there is no
  // randomUUID; 16 random bytes in hex do as well.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

const berth = createClient<paths>({
  baseUrl: api,
  fetch: patientFetch,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
});

/** Who the token says we are. */
function claims(): { sub?: string; role?: string } {
  try {
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}

const state = {
  resources: [] as Resource[],
  resource: null as Resource | null,
  customerId: "",
  /** The first day of the week shown, a date in the resource's zone. */
  weekStart: "",
  /** Which week load is the latest: older answers are dropped. */
  loads: 0,
  hold: null as { booking: Booking; etag: string } | null,
  /** Our place in a waiting list, as last read. */
  waitlist: null as Entry | null,
  /** Which entry read is the latest: older answers are dropped. */
  entryReads: 0,
  changes: null as EventSource | null,
  countdown: 0,
};

/** `2027-03-29` for an instant, in a time zone. */
function localDate(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(at);
}

/** A date `n` days after `date` (both `YYYY-MM-DD`; calendar days). */
function addDays(date: string, n: number): string {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** How far `timeZone`'s wall clock is ahead of UTC at `at` (ms). */
function offsetAt(at: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(at);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(part("year"), part("month") - 1, part("day"), part("hour"), part("minute"), part("second"));
  return wall - Math.floor(at / 1000) * 1000;
}

/** The instant a date begins in a time zone (its local midnight; DST-aware). */
function startOfDay(date: string, timeZone: string): Date {
  const [y, m, d] = date.split("-").map(Number);
  const wall = Date.UTC(y, m - 1, d);
  const first = wall - offsetAt(wall, timeZone);
  return new Date(wall - offsetAt(first, timeZone));
}

const clock = (timeZone: string) => new Intl.DateTimeFormat([], { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

function zoneOf(resourceId: string): string {
  return state.resources.find((r) => r.id === resourceId)?.time_zone ?? "UTC";
}

function whenText(startAt: string, endAt: string, tz: string): string {
  const day = new Intl.DateTimeFormat([], { timeZone: tz, weekday: "short", day: "numeric", month: "short" });
  const at = new Date(startAt);
  return `${day.format(at)}, ${clock(tz).format(at)}–${clock(tz).format(new Date(endAt))} (${tz})`;
}

async function start() {
  if (!token) {
    $("sign-in").hidden = false;
    $<HTMLFormElement>("token-form").onsubmit = (e) => {
      e.preventDefault();
      sessionStorage.setItem("berth-token", $<HTMLInputElement>("token").value.trim());
      location.reload();
    };
    return;
  }
  const me = claims();
  $("who").textContent = `signed in as ${me.role ?? "?"} ${me.sub ?? ""}`;
  $("app").hidden = false;

  const { data: page, error } = await berth.GET("/v1/resources", { params: { query: { limit: 200 } } });
  if (!page) return showProblem(error);
  state.resources = page.items.filter((r) => r.active);
  const pick = $<HTMLSelectElement>("resources");
  pick.replaceChildren(...state.resources.map((r) => new Option(`${r.name} (${r.capacity})`, r.id)));
  pick.value = query.get("resource") ?? state.resources[0]?.id ?? "";
  pick.onchange = () => selectResource(pick.value);

  if (me.role === "customer") {
    state.customerId = me.sub ?? "";
    $("customer-label").hidden = true;
  } else {
    const { data: customers, error: customersError } = await berth.GET("/v1/customers", { params: { query: { limit: 200 } } });
    if (!customers) return showProblem(customersError);
    const who = $<HTMLSelectElement>("customers");
    who.replaceChildren(...customers.items.map((c) => new Option(c.name ?? c.email, c.id)));
    who.value = query.get("customer") ?? customers.items[0]?.id ?? "";
    state.customerId = who.value;
    who.onchange = () => {
      state.customerId = who.value;
      void loadWeek();
    };
  }
  $("duration").onchange = () => void loadWeek();
  $("previous-week").onclick = () => {
    state.weekStart = addDays(state.weekStart, -7);
    void loadWeek();
  };
  $("next-week").onclick = () => {
    state.weekStart = addDays(state.weekStart, 7);
    void loadWeek();
  };
  $("confirm").onclick = () => void act("confirm");
  $("cancel").onclick = () => void act("cancel");
  $("leave-waitlist").onclick = () => void leaveWaitlist();
  if (pick.value) await selectResource(pick.value);
}

async function selectResource(id: string) {
  state.resource = state.resources.find((r) => r.id === id) ?? null;
  state.weekStart = localDate(new Date(), state.resource?.time_zone ?? "UTC");
  watchChanges(id, 1000);
  // An entry of another resource is followed only while its resource is
  // shown; picking a resource reads it again.
  void refreshEntry();
  await loadWeek();
}

/**
 * Reloads the week (and re-reads our waiting-list entry for this resource)
 * whenever berth says the resource's time changed. The browser reconnects
 * by itself (resuming with Last-Event-ID); when it gives up (an error
 * answer), start again after a growing wait, and reload then.
 */
function watchChanges(id: string, retryIn: number) {
  state.changes?.close();
  const live = $("live");
  const changes = new EventSource(`${api}/v1/resources/${id}/changes`);
  changes.onopen = () => {
    live.dataset.state = "on";
    live.textContent = "live: on";
  };
  changes.onerror = () => {
    live.dataset.state = "off";
    live.textContent = "live: reconnecting…";
    if (changes.readyState === EventSource.CLOSED && state.resource?.id === id) {
      setTimeout(() => {
        if (state.resource?.id !== id) return;
        watchChanges(id, Math.min(retryIn * 2, 30_000));
        void loadWeek();
        void refreshEntry();
        void refreshPending();
      }, retryIn);
    }
  };
  let pending: number | undefined;
  changes.addEventListener("change", () => {
    clearTimeout(pending);
    pending = window.setTimeout(() => {
      void loadWeek();
      if (state.waitlist?.resource_id === id) void refreshEntry();
      if (state.hold?.booking.resource_id === id) void refreshPending();
    }, 150);
  });
  state.changes = changes;
}

async function loadWeek() {
  const resource = state.resource;
  if (!resource) return;
  const load = ++state.loads;
  const tz = resource.time_zone;
  const dates = Array.from({ length: 7 }, (_, n) => addDays(state.weekStart, n));
  const dayName = (date: string) =>
    new Date(`${date}T12:00:00Z`).toLocaleDateString([], { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
  $("week-label").textContent = `${dayName(dates[0])} – ${dayName(dates[6])}`;
  $("zones").textContent =
    tz === viewerZone ? `Times in ${tz}.` : `Times in the resource's zone, ${tz}; yours (${viewerZone}) in grey.`;
  const isAdmin = claims().role === "admin";
  const { data, error } = await berth.GET("/v1/resources/{id}/slots", {
    params: {
      path: { id: resource.id },
      query: {
        // The resource's own days, from local midnight to local midnight.
        from: startOfDay(dates[0], tz).toISOString(),
        to: startOfDay(addDays(state.weekStart, 7), tz).toISOString(),
        duration_seconds: Number($<HTMLSelectElement>("duration").value),
        quantity: 1,
        // With an admin token, name the customer so their own limits count.
        ...(isAdmin && state.customerId ? { customer_id: state.customerId } : {}),
      },
    },
  });
  if (load !== state.loads) return; // a newer load is on its way
  if (!data) return showProblem(error);
  const byDay = new Map<string, Slot[]>();
  for (const slot of data.slots) {
    const day = slot.local_start.slice(0, 10);
    byDay.set(day, [...(byDay.get(day) ?? []), slot]);
  }
  const theirs = clock(tz);
  const yours = clock(viewerZone);
  const columns = dates.map((date) => {
    const column = document.createElement("div");
    column.className = "day";
    const heading = document.createElement("h3");
    heading.textContent = dayName(date);
    column.append(heading);
    const slots = byDay.get(date) ?? [];
    if (slots.length === 0) {
      const none = document.createElement("p");
      none.className = "none";
      none.textContent = "nothing free";
      column.append(none);
    }
    for (const slot of slots) {
      const at = new Date(slot.start_at);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "slot";
      button.dataset.start = slot.start_at;
      button.dataset.end = slot.end_at;
      button.append(theirs.format(at));
      if (tz !== viewerZone) {
        const own = document.createElement("small");
        const otherDay = localDate(at, viewerZone) !== date ? ` ${localDate(at, viewerZone).slice(5)}` : "";
        own.textContent = ` (${yours.format(at)}${otherDay})`;
        button.append(own);
      }
      const left = document.createElement("span");
      left.className = "left";
      left.textContent = `${slot.available} left`;
      button.append(" ", left);
      button.onclick = () => void hold(slot.start_at, slot.end_at);
      column.append(button);
    }
    return column;
  });
  $("week").replaceChildren(...columns);
}

/** Holds a slot. `key` is the intent's Idempotency-Key: a retry of the same intent sends the same one. */
async function hold(startAt: string, endAt: string, key = newKey()): Promise<void> {
  if (!state.resource) return;
  quiet();
  let answer;
  try {
    answer = await berth.POST("/v1/bookings", {
      params: { header: { "Idempotency-Key": key } },
      body: { resource_id: state.resource.id, customer_id: state.customerId, start_at: startAt, end_at: endAt, quantity: 1, hold: true },
    });
  } catch {
    return offerRetry("berth could not be reached, so we do not know whether the hold was made.", () => hold(startAt, endAt, key));
  }
  const { data, error, response } = answer;
  if (!data) return showProblem(error, holdOffers(error, { startAt, endAt }));
  quiet();
  state.hold = { booking: data, etag: response.headers.get("etag") ?? `"${data.version}"` };
  showHold();
  void loadWeek();
}

/** Says what failed and offers to try the same intent again (same key: never twice). */
function offerRetry(text: string, again: () => Promise<void>) {
  say(text, "problem");
  const retry = document.createElement("button");
  retry.type = "button";
  retry.textContent = "Try again";
  retry.onclick = () => void again();
  $("message").append(" ", retry);
}

async function act(action: "confirm" | "cancel", key = newKey()): Promise<void> {
  const current = state.hold;
  if (!current) return;
  quiet();
  const path = action === "confirm" ? "/v1/bookings/{id}/confirm" : "/v1/bookings/{id}/cancel";
  let answer;
  try {
    answer = await berth.POST(path, {
      params: {
        path: { id: current.booking.id },
        header: { "If-Match": current.etag, "Idempotency-Key": key },
      },
    });
  } catch {
    return offerRetry(`berth could not be reached to ${action}.`, () => act(action, key));
  }
  const { data, error, response } = answer;
  if (!data) return actRefused(error);
  quiet();
  state.hold = { booking: data, etag: response.headers.get("etag") ?? `"${data.version}"` };
  showHold();
  void loadWeek();
}

/** Reacts to a refused confirm or cancel, by the problem's type: every one the spec gives them is named. */
async function actRefused(problem: ActProblem): Promise<void> {
  switch (problem?.code) {
    case "precondition-failed":
      // Changed elsewhere (another tab, an admin, the hold ran out): show
      // what it is now instead of acting on what we last saw.
      await reloadHold();
      say("This booking changed since this page last saw it; here is how it is now. Try again if you still want to.");
      return;
    case "hold-expired":
    case "cutoff-passed":
    case "invalid-state-transition":
      // e.g. hold-expired: show the booking as it is now, then why, and
      // the times berth offers instead.
      await reloadHold();
      return showProblem(problem, alternativeOffers(problem.alternatives));
    case "idempotency-key-in-use":
      // Still running after every retry: show where the booking stands.
      await reloadHold();
      return showProblem(problem);
    case "idempotency-key-invalid":
    case "idempotency-key-reused":
    case "malformed-request":
    case "validation-error":
    case "unauthenticated":
    case "not-found":
    case "payload-too-large":
    case "unsupported-media-type":
    case "rate-limited":
    case "internal-error":
    case "schema-ahead-of-binary":
    case "service-unavailable":
      return showProblem(problem);
    default:
      return showProblem(unnamed(problem));
  }
}

async function reloadHold() {
  if (!state.hold) return;
  const { data, response } = await berth.GET("/v1/bookings/{id}", { params: { path: { id: state.hold.booking.id } } });
  if (data) state.hold = { booking: data, etag: response.headers.get("etag") ?? `"${data.version}"` };
  showHold();
}

/** Re-reads our booking while it awaits approval (approved, declined, or run out). */
async function refreshPending() {
  if (state.hold?.booking.status === "pending") await reloadHold();
}

function showHold() {
  const panel = $("hold-panel");
  const current = state.hold;
  window.clearInterval(state.countdown);
  if (!current) {
    panel.hidden = true;
    return;
  }
  const { booking } = current;
  panel.hidden = false;
  panel.dataset.status = booking.status;
  panel.dataset.start = booking.start_at;
  // A request awaiting approval: until when, on the viewer's own clock and
  // with its day (a request may wait for days). A declined one that kept
  // it ran out unanswered; one an admin declined has none.
  const approval = booking.approval_expires_at;
  const until = new Intl.DateTimeFormat([], {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
  const titles: Record<string, string> = {
    held: "Held for you",
    pending: `Requested — awaiting approval${approval ? ` until ${until.format(new Date(approval))}` : ""}`,
    confirmed: "Booked",
    cancelled: "Cancelled",
    expired: "The hold ran out",
    declined: approval ? "Not approved: the request ran out unanswered" : "Not approved",
  };
  // A hold berth made from the waiting list is its offer: until when, on
  // the viewer's own clock.
  const offer = booking.status === "held" && booking.waitlist_entry_id && booking.hold_expires_at;
  panel.dataset.offer = offer ? "true" : "false";
  $("hold-title").textContent = offer
    ? `A place is free for you until ${clock(viewerZone).format(new Date(offer))}`
    : titles[booking.status] ?? booking.status;
  $("hold-when").textContent = whenText(booking.start_at, booking.end_at, zoneOf(booking.resource_id));
  $<HTMLButtonElement>("confirm").hidden = booking.status !== "held";
  $<HTMLButtonElement>("cancel").hidden = !["held", "pending", "confirmed"].includes(booking.status);
  const countdown = $("hold-countdown");
  countdown.textContent = "";
  if (booking.status === "held" && booking.hold_expires_at) {
    const ends = new Date(booking.hold_expires_at).getTime();
    const tick = () => {
      const left = Math.max(0, Math.ceil((ends - Date.now()) / 1000));
      if (left > 0) {
        countdown.textContent = `Confirm within ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
        return;
      }
      // Ran out: berth freed the unit at that instant (its sweeper marks
      // the booking expired a little later). Say so here; no polling.
      window.clearInterval(state.countdown);
      panel.dataset.status = "expired";
      $("hold-title").textContent = titles.expired;
      countdown.textContent = "";
      $<HTMLButtonElement>("confirm").hidden = true;
      $<HTMLButtonElement>("cancel").hidden = true;
    };
    tick();
    state.countdown = window.setInterval(tick, 1000);
  }
}

/**
 * Any refusal: its title and detail (members every problem type has), then
 * what the page `offers` for it. A 409 means the time changed under us:
 * the week reloads.
 */
function showProblem(problem: Problem | undefined, offers: HTMLElement[] = []) {
  if (!problem || typeof problem !== "object") return say("berth answered with something that is not a problem.", "problem");
  const box = $("message");
  box.hidden = false;
  box.dataset.kind = "problem";
  box.dataset.type = problem.code ?? "";
  const title = document.createElement("h2");
  title.textContent = problem.title ?? "Refused";
  const detail = document.createElement("p");
  detail.textContent = problem.detail ?? "";
  box.replaceChildren(title, detail, ...offers);
  if (problem.status === 409) void loadWeek();
}

/**
 * The `default` of a switch that names every problem type of an
 * operation: the compiler proves it unreachable (a type the spec adds is a
 * compile error at the call), so at run time it is a body the spec does
 * not describe, or none (hence the switches' `?.`).
 */
function unnamed(problem: never): Problem | undefined {
  return problem;
}

/**
 * What the page offers for a refused hold of the slot `attempt`, by the
 * problem's type: every one the spec gives `POST /v1/bookings` is named.
 */
function holdOffers(problem: HoldProblem, attempt: Attempt): HTMLElement[] {
  switch (problem?.code) {
    case "capacity-exceeded":
      // Full: wait for it (with how many already do), or take a time nearby.
      return [waitlistOffer(problem.waitlist_length ?? 0, attempt), ...alternativeOffers(problem.alternatives)];
    case "beyond-booking-horizon":
    case "booking-limit-reached":
    case "duplicate-booking":
    case "no-resource-available":
    case "not-on-slot-grid":
    case "notice-too-short":
    case "outside-opening-hours":
    case "resource-inactive":
      return alternativeOffers(problem.alternatives);
    case "idempotency-key-in-use":
    case "idempotency-key-invalid":
    case "idempotency-key-reused":
    case "malformed-request":
    case "validation-error":
    case "unauthenticated":
    case "forbidden":
    case "payload-too-large":
    case "unsupported-media-type":
    case "rate-limited":
    case "internal-error":
    case "schema-ahead-of-binary":
    case "service-unavailable":
      return [];
    default:
      unnamed(problem);
      return [];
  }
}

/** A full slot: how many wait for it, and a button to join them. */
function waitlistOffer(waiting: number, attempt: Attempt): HTMLElement {
  const wait = document.createElement("p");
  wait.className = "waiting";
  wait.textContent =
    waiting === 0 ? "Nobody is waiting for it yet. " : waiting === 1 ? "1 person is waiting. " : `${waiting} people are waiting. `;
  wait.append(actionButton("Join the waiting list", "join-waitlist", () => joinWaitlist(attempt)));
  return wait;
}

/** The free times berth names near a refused one, as buttons that hold them (none: no offer). */
function alternativeOffers(alternatives: Alternative[] | null | undefined): HTMLElement[] {
  if (!alternatives?.length) return [];
  const offer = document.createElement("p");
  offer.textContent = "Free nearby:";
  for (const alternative of alternatives) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "alternative";
    button.dataset.start = alternative.start_at;
    button.textContent = `Hold ${whenText(alternative.start_at, alternative.end_at, state.resource?.time_zone ?? "UTC")}`;
    button.onclick = () => void hold(alternative.start_at, alternative.end_at);
    offer.append(button);
  }
  return [offer];
}

/** A button in a message that starts an intent. */
function actionButton(text: string, className: string, run: () => Promise<void>): HTMLButtonElement {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = text;
  button.onclick = () => void run();
  return button;
}

/** Waits for a full slot: joins its waiting list (for the customer chosen, or the token's own). */
async function joinWaitlist(attempt: Attempt, key = newKey()): Promise<void> {
  if (!state.resource) return;
  quiet();
  // A customer's token waits for that customer; an admin names one.
  const who = claims().role === "customer" ? {} : { customer_id: state.customerId };
  let answer;
  try {
    answer = await berth.POST("/v1/waitlist", {
      params: { header: { "Idempotency-Key": key } },
      body: { resource_id: state.resource.id, ...who, start_at: attempt.startAt, end_at: attempt.endAt, quantity: 1 },
    });
  } catch {
    return offerRetry("berth could not be reached, so we do not know whether you joined the queue.", () =>
      joinWaitlist(attempt, key),
    );
  }
  const { data, error } = answer;
  if (!data) return joinRefused(error, attempt);
  quiet();
  state.waitlist = data;
  showWaitlist();
}

/**
 * Reacts to a refused join of the slot `attempt`'s waiting list, by the
 * problem's type: every one the spec gives `POST /v1/waitlist` is named.
 */
async function joinRefused(problem: JoinProblem, attempt: Attempt): Promise<void> {
  switch (problem?.code) {
    case "already-on-waitlist":
      // Already waiting (another tab, an earlier visit): follow that entry.
      await readEntry(problem.entry_id);
      return showProblem(problem);
    case "waitlist-not-needed": {
      // Free after all: book it instead.
      const free = document.createElement("p");
      const units = problem.available ? ` (${problem.available} free)` : "";
      free.append(actionButton(`Book it instead${units}`, "book-instead", () => hold(attempt.startAt, attempt.endAt)));
      return showProblem(problem, [free]);
    }
    case "beyond-booking-horizon":
    case "booking-limit-reached":
    case "duplicate-booking":
    case "no-resource-available":
    case "not-on-slot-grid":
    case "notice-too-short":
    case "outside-opening-hours":
    case "resource-inactive":
      return showProblem(problem, alternativeOffers(problem.alternatives));
    case "idempotency-key-in-use":
    case "idempotency-key-invalid":
    case "idempotency-key-reused":
    case "malformed-request":
    case "validation-error":
    case "unauthenticated":
    case "forbidden":
    case "payload-too-large":
    case "unsupported-media-type":
    case "rate-limited":
    case "internal-error":
    case "schema-ahead-of-binary":
    case "service-unavailable":
      return showProblem(problem);
    default:
      return showProblem(unnamed(problem));
  }
}

/** Re-reads our entry while it can still change for us (waiting, or offered). */
async function refreshEntry() {
  const entry = state.waitlist;
  if (entry && (entry.status === "waiting" || entry.status === "offered")) await readEntry(entry.id);
}

/** Reads an entry; an offer it now holds becomes the hold this page shows. */
async function readEntry(id: string) {
  const read = ++state.entryReads;
  const { data } = await berth.GET("/v1/waitlist/{id}", { params: { path: { id } } });
  if (!data || read !== state.entryReads) return; // gone, or a newer read is on its way
  state.waitlist = data;
  showWaitlist();
  if (data.status === "offered" && data.booking_id && state.hold?.booking.id !== data.booking_id) {
    const { data: booking, response } = await berth.GET("/v1/bookings/{id}", { params: { path: { id: data.booking_id } } });
    if (!booking) return;
    state.hold = { booking, etag: response.headers.get("etag") ?? `"${booking.version}"` };
    showHold();
  }
}

/**
 * Leaves the queue. No If-Match: leaving is wanted whatever the entry
 * became meanwhile (an offer that arrived is passed on to the next).
 */
async function leaveWaitlist(key = newKey()): Promise<void> {
  const entry = state.waitlist;
  if (!entry) return;
  quiet();
  let answer;
  try {
    answer = await berth.POST("/v1/waitlist/{id}/leave", {
      params: { path: { id: entry.id }, header: { "Idempotency-Key": key } },
    });
  } catch {
    return offerRetry("berth could not be reached to leave the queue.", () => leaveWaitlist(key));
  }
  const { data, error } = answer;
  if (!data) {
    await refreshEntry();
    return showProblem(error);
  }
  state.waitlist = data;
  showWaitlist();
  if (data.booking_id && state.hold?.booking.id === data.booking_id) await reloadHold();
  say("You left the queue.");
}

/**
 * Our place in the queue while it waits (or why it stopped waiting). Once
 * offered, the offer is a hold and the hold panel shows it.
 */
function showWaitlist() {
  const panel = $("waitlist-panel");
  const entry = state.waitlist;
  if (!entry || !["waiting", "lapsed"].includes(entry.status)) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  panel.dataset.status = entry.status;
  panel.dataset.position = String(entry.position ?? "");
  $("waitlist-title").textContent =
    entry.status === "waiting"
      ? `You are number ${entry.position ?? "?"} in the queue`
      : "This time can no longer be booked, so the waiting list for it is closed";
  $("waitlist-when").textContent = whenText(entry.start_at, entry.end_at, zoneOf(entry.resource_id ?? ""));
  $<HTMLButtonElement>("leave-waitlist").hidden = entry.status !== "waiting";
}

void start();
