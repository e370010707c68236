// A booking page on berth, with nothing but the typed client generated from
// openapi/openapi.json (openapi-typescript + openapi-fetch):
//
// - a week of slots (`GET /v1/resources/{id}/slots`) in the resource's time
//   zone, with the viewer's own time beside each one;
// - hold a slot (`POST /v1/bookings`, `hold: true`) with an Idempotency-Key,
//   retried with the same key when the network fails; a countdown to the
//   hold's end; confirm or cancel it (`If-Match` with the hold's ETag);
// - every refusal is a problem: a 409 shows its title and detail and offers
//   its `alternatives` as buttons; a 412 reloads the booking and says why; a
//   429 waits the `Retry-After` it names;
// - the week reloads when `GET /v1/resources/{id}/changes` (Server-Sent
//   Events) says the resource's time changed, e.g. someone else booked.
//
// Query parameters: `token` (kept in sessionStorage, then removed from the
// address bar), `api` (berth's base URL when the page is served elsewhere:
// then berth needs BERTH_CORS_ORIGINS), `resource` and `customer` (preselect).
import createClient from "openapi-fetch";
import type { components, paths } from "./berth";

type Problem = components["schemas"]["Problem"];
type Booking = components["schemas"]["BookingResponse"];
type Resource = components["schemas"]["ResourceResponse"];
type Slot = components["schemas"]["SlotResponse"];

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const query = new URLSearchParams(location.search);
const api = query.get("api") ?? location.origin;
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
    if (response.status === 429 && attempt < 4) {
      const wait = Number(response.headers.get("retry-after") ?? "1");
      say(`berth asks us to slow down; waiting ${wait} s…`);
      await sleep(wait * 1000);
      continue;
    }
    return response;
  }
}

const berth = createClient<paths>({
  baseUrl: api,
  fetch: patientFetch,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
});

/** The problem type's slug: switch on it, never on the prose. */
const slug = (problem: Problem) => problem.type.split("/").pop() ?? "";

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
  weekStart: startOfToday(),
  hold: null as { booking: Booking; etag: string } | null,
  changes: null as EventSource | null,
  countdown: 0,
};

function startOfToday(): Date {
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  return today;
}

const days = (date: Date, n: number) => new Date(date.getTime() + n * 86_400_000);

/** `2027-03-29` for an instant, in a time zone. */
function localDate(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(at);
}

function viewerTime(at: string): string {
  return new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function whenText(startAt: string, endAt: string): string {
  const tz = state.resource?.time_zone ?? "UTC";
  const fmt = new Intl.DateTimeFormat([], { timeZone: tz, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  const end = new Intl.DateTimeFormat([], { timeZone: tz, hour: "2-digit", minute: "2-digit" });
  return `${fmt.format(new Date(startAt))}–${end.format(new Date(endAt))} (${tz})`;
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
    state.weekStart = days(state.weekStart, -7);
    void loadWeek();
  };
  $("next-week").onclick = () => {
    state.weekStart = days(state.weekStart, 7);
    void loadWeek();
  };
  $("confirm").onclick = () => void act("confirm");
  $("cancel").onclick = () => void act("cancel");
  if (pick.value) await selectResource(pick.value);
}

async function selectResource(id: string) {
  state.resource = state.resources.find((r) => r.id === id) ?? null;
  watchChanges(id);
  await loadWeek();
}

/** Reloads the week whenever berth says the resource's time changed. */
function watchChanges(id: string) {
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
  };
  let pending: number | undefined;
  changes.addEventListener("change", () => {
    clearTimeout(pending);
    pending = window.setTimeout(() => void loadWeek(), 150);
  });
  state.changes = changes;
}

async function loadWeek() {
  const resource = state.resource;
  if (!resource) return;
  const tz = resource.time_zone;
  const from = state.weekStart;
  const to = days(from, 7);
  $("week-label").textContent = `${from.toLocaleDateString()} – ${days(to, -1).toLocaleDateString()}`;
  const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  $("zones").textContent =
    tz === viewerZone ? `Times in ${tz}.` : `Times in the resource's zone, ${tz}; yours (${viewerZone}) in grey.`;
  const isAdmin = claims().role === "admin";
  const { data, error } = await berth.GET("/v1/resources/{id}/slots", {
    params: {
      path: { id: resource.id },
      query: {
        from: from.toISOString(),
        to: to.toISOString(),
        duration_seconds: Number($<HTMLSelectElement>("duration").value),
        quantity: 1,
        // With an admin token, name the customer so their own limits count.
        ...(isAdmin && state.customerId ? { customer_id: state.customerId } : {}),
      },
    },
  });
  if (!data) return showProblem(error);
  const byDay = new Map<string, Slot[]>();
  for (const slot of data.slots) {
    const day = slot.local_start.slice(0, 10);
    byDay.set(day, [...(byDay.get(day) ?? []), slot]);
  }
  const columns = [];
  for (let n = 0; n < 7; n++) {
    const date = days(from, n);
    const day = localDate(new Date(date.getTime() + 12 * 3_600_000), tz);
    const column = document.createElement("div");
    column.className = "day";
    const heading = document.createElement("h3");
    heading.textContent = new Date(`${day}T12:00:00Z`).toLocaleDateString([], { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
    column.append(heading);
    const slots = byDay.get(day) ?? [];
    if (slots.length === 0) {
      const none = document.createElement("p");
      none.className = "none";
      none.textContent = "nothing free";
      column.append(none);
    }
    for (const slot of slots) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "slot";
      button.dataset.start = slot.start_at;
      button.dataset.end = slot.end_at;
      const own = slot.local_start.slice(11, 16);
      const yours = viewerTime(slot.start_at);
      button.innerHTML = `${own}${yours !== own ? ` <small>(${yours})</small>` : ""} <span class="left">${slot.available} left</span>`;
      button.onclick = () => void hold(slot.start_at, slot.end_at);
      column.append(button);
    }
    columns.push(column);
  }
  $("week").replaceChildren(...columns);
}

async function hold(startAt: string, endAt: string) {
  if (!state.resource) return;
  quiet();
  const { data, error, response } = await berth.POST("/v1/bookings", {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: { resource_id: state.resource.id, customer_id: state.customerId, start_at: startAt, end_at: endAt, quantity: 1, hold: true },
  });
  if (!data) return showProblem(error);
  state.hold = { booking: data, etag: response.headers.get("etag") ?? `"${data.version}"` };
  showHold();
  void loadWeek();
}

async function act(action: "confirm" | "cancel") {
  const current = state.hold;
  if (!current) return;
  quiet();
  const path = action === "confirm" ? "/v1/bookings/{id}/confirm" : "/v1/bookings/{id}/cancel";
  const { data, error, response } = await berth.POST(path, {
    params: {
      path: { id: current.booking.id },
      header: { "If-Match": current.etag, "Idempotency-Key": crypto.randomUUID() },
    },
  });
  if (!data) {
    if (response.status === 412) {
      // Changed elsewhere (another tab, an admin, the hold ran out): show
      // what it is now instead of acting on what we last saw.
      await reloadHold();
      say("This booking changed since this page last saw it; here is how it is now. Try again if you still want to.");
      return;
    }
    return showProblem(error);
  }
  state.hold = { booking: data, etag: response.headers.get("etag") ?? `"${data.version}"` };
  showHold();
  void loadWeek();
}

async function reloadHold() {
  if (!state.hold) return;
  const { data, response } = await berth.GET("/v1/bookings/{id}", { params: { path: { id: state.hold.booking.id } } });
  if (data) state.hold = { booking: data, etag: response.headers.get("etag") ?? `"${data.version}"` };
  showHold();
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
  const titles: Record<string, string> = {
    held: "Held for you",
    confirmed: "Booked",
    cancelled: "Cancelled",
    expired: "The hold ran out",
  };
  $("hold-title").textContent = titles[booking.status] ?? booking.status;
  $("hold-when").textContent = whenText(booking.start_at, booking.end_at);
  $<HTMLButtonElement>("confirm").hidden = booking.status !== "held";
  $<HTMLButtonElement>("cancel").hidden = !["held", "confirmed"].includes(booking.status);
  const countdown = $("hold-countdown");
  countdown.textContent = "";
  if (booking.status === "held" && booking.hold_expires_at) {
    const ends = new Date(booking.hold_expires_at).getTime();
    const tick = () => {
      const left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      countdown.textContent = `Confirm within ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      if (left === 0) {
        window.clearInterval(state.countdown);
        void reloadHold();
      }
    };
    tick();
    state.countdown = window.setInterval(tick, 1000);
  }
}

/** Any refusal: its title and detail; a 409's alternatives as buttons. */
function showProblem(problem: Problem | undefined) {
  if (!problem) return say("berth did not answer.", "problem");
  const box = $("message");
  box.hidden = false;
  box.dataset.kind = "problem";
  box.dataset.type = slug(problem);
  const title = document.createElement("h2");
  title.textContent = problem.title;
  const detail = document.createElement("p");
  detail.textContent = problem.detail ?? "";
  box.replaceChildren(title, detail);
  const alternatives = problem.alternatives ?? [];
  if (problem.status === 409 && alternatives.length > 0) {
    const offer = document.createElement("p");
    offer.textContent = "Free nearby:";
    for (const alternative of alternatives) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "alternative";
      button.dataset.start = alternative.start_at;
      button.textContent = `Hold ${whenText(alternative.start_at, alternative.end_at)}`;
      button.onclick = () => void hold(alternative.start_at, alternative.end_at);
      offer.append(button);
    }
    box.append(offer);
  }
  if (problem.status === 409) void loadWeek();
}

void start();
