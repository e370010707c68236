// The booking page in a real browser (Debian's Chromium driven by
// playwright-core) against a real berth serving it at /demo/:
//
// 1. Two browser contexts (two people, viewing from New York) open the page
//    on a room in Berlin with capacity 2, of which tomorrow 09:00 has one
//    unit left; both see it in Berlin time with their own beside it.
// 2. Both hold the same slot at once: exactly one gets the hold (with a
//    countdown); the other sees the 409 problem's title and detail and
//    the alternatives berth offered, and its week has dropped the slot
//    (the page reloads its week after a 409).
// 3. The loser holds an offered alternative; both confirm. berth then
//    holds the winner's booking on the contested slot and the loser's on
//    the alternative.
// 4. A booking made elsewhere (the API, no page action) shows up in both
//    pages' weeks through the live change stream; the winner cancels and
//    the unit reappears on the loser's page.
// 5. The waiting list, on a booth of capacity 1: Ada books its last unit
//    (the API) while Bob's page still shows it (its reload held back, as
//    when he clicks just before it arrives); Bob gets the full-slot 409,
//    joins the waiting list and is number 1 (Carol, refused after him, is
//    told 1 person waits). Ada's booking is cancelled (the API): berth
//    offers the unit to Bob as a hold, which his page shows live, without
//    a reload; he confirms, and berth holds his booking, confirmed, with
//    the entry accepted.
// 6. Approval, on a lab whose policy has `approval_required`: Dora, with a
//    customer's token of her own, holds a slot and confirms; her page shows
//    the request awaiting approval (no Confirm, still Cancel). An admin
//    approves it (the API) and her page says "Booked", live, without a
//    reload; a second request, declined by an admin, turns to "Not
//    approved" the same way. berth holds the first confirmed, the second
//    declined.
// Screenshots of each step go to OUTDIR.
//
//   BERTH=target/debug/berth BERTH_JWT_SECRET=… node test/race.mjs BASE ADMIN_TOKEN OUTDIR
//
// BERTH and BERTH_JWT_SECRET (the secret the berth at BASE signs with)
// mint Dora's customer token: `berth token --role customer`.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const [base, token, outDir] = process.argv.slice(2);
if (!base || !token || !outDir) throw new Error("usage: node test/race.mjs BASE ADMIN_TOKEN OUTDIR");
if (!process.env.BERTH || !process.env.BERTH_JWT_SECRET) {
  throw new Error("set BERTH (the berth binary) and BERTH_JWT_SECRET (BASE's secret): they mint a customer's token");
}
mkdirSync(outDir, { recursive: true });

const check = (ok, what) => {
  if (!ok) throw new Error(`booking page: ${what}`);
  console.log(`ok: ${what}`);
};

async function call(method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const run = Date.now().toString(36);
const room = await call("POST", "/v1/resources", {
  name: `Studio ${run}`,
  capacity: 2,
  time_zone: "Europe/Berlin",
  schedule: { weekly: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], from: "09:00", to: "18:00" }] },
});
const ada = await call("POST", "/v1/customers", { email: `ada-${run}@example.com`, name: "Ada" });
const bob = await call("POST", "/v1/customers", { email: `bob-${run}@example.com`, name: "Bob" });
const carol = await call("POST", "/v1/customers", { email: `carol-${run}@example.com`, name: "Carol" });
const same = (a, b) => new Date(a).getTime() === new Date(b).getTime();

// Tomorrow 09:00 in Berlin: Carol already holds one of its two units.
const { slots: week } = await call(
  "GET",
  `/v1/resources/${room.id}/slots?from=${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}T00:00:00Z` +
    `&to=${new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10)}T00:00:00Z&duration_seconds=3600`,
);
const tomorrow = week.find((slot) => slot.local_start.endsWith("T09:00:00+01:00") || slot.local_start.endsWith("T09:00:00+02:00"));
if (!tomorrow) throw new Error("no 09:00 slot tomorrow");
const contestedStart = tomorrow.start_at;
await call("POST", "/v1/bookings", { resource_id: room.id, customer_id: carol.id, start_at: contestedStart, end_at: tomorrow.end_at });
const pageErrors = [];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const open = async (customer, resource = room, bearer = token) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: "America/New_York" });
    const page = await context.newPage();
    page.on("pageerror", (err) => pageErrors.push(err.message));
    await page.goto(`${base}/demo/?token=${encodeURIComponent(bearer)}&resource=${resource.id}&customer=${customer.id}`);
    await page.waitForSelector(".slot", { timeout: 20_000 });
    await page.waitForSelector("#live[data-state=on]", { timeout: 10_000 });
    return page;
  };
  const adaPage = await open(ada);
  const bobPage = await open(bob);
  check(!(adaPage.url().includes("token=")), "the token is taken out of the address bar");
  check((await adaPage.locator("#zones").innerText()).includes("Europe/Berlin"), "times are shown in the room's time zone");

  const contested = `.slot[data-start="${contestedStart}"]`;
  await adaPage.waitForSelector(contested);
  await bobPage.waitForSelector(contested);
  const label = await adaPage.locator(contested).innerText();
  check(label.includes("1 left"), `the last unit shows as such (${label.replace(/\s+/g, " ")})`);
  check(/^09:00/.test(label) && /\((02|03|04):00/.test(label), "Berlin's 09:00 with the New York viewer's own time beside it");
  await adaPage.screenshot({ path: `${outDir}/1-week.png` });

  // Both click at once (in the pages, so neither waits for the other's
  // outcome to redraw its week).
  const press = (page) => page.evaluate((selector) => document.querySelector(selector).click(), contested);
  await Promise.all([press(adaPage), press(bobPage)]);
  const outcome = async (page) => {
    const held = page.locator("#hold-panel[data-status=held]");
    const refused = page.locator("#message[data-type=capacity-exceeded]");
    await held.or(refused).waitFor({ timeout: 15_000 });
    return (await held.count()) > 0 ? "held" : "refused";
  };
  const [adaOutcome, bobOutcome] = await Promise.all([outcome(adaPage), outcome(bobPage)]);
  check([adaOutcome, bobOutcome].sort().join() === "held,refused", `one hold, one refusal (ada ${adaOutcome}, bob ${bobOutcome})`);
  const [winner, loser] = adaOutcome === "held" ? [adaPage, bobPage] : [bobPage, adaPage];
  const [winnerId, loserId] = adaOutcome === "held" ? [ada.id, bob.id] : [bob.id, ada.id];

  check(/Confirm within \d+:\d\d/.test(await winner.locator("#hold-countdown").innerText()), "the hold counts down");
  await winner.screenshot({ path: `${outDir}/2-winner-holds.png` });
  const problem = await loser.locator("#message").innerText();
  check(problem.includes("Capacity exceeded"), "the loser sees the problem's title");
  const alternatives = loser.locator("#message .alternative");
  check((await alternatives.count()) > 0, `the loser is offered ${await alternatives.count()} alternatives`);
  await loser.waitForSelector(contested, { state: "detached", timeout: 10_000 });
  check(true, "the loser's week dropped the taken slot");
  await loser.screenshot({ path: `${outDir}/3-loser-conflict.png` });

  const alternativeStart = await alternatives.first().getAttribute("data-start");
  await alternatives.first().click();
  await loser.waitForSelector("#hold-panel[data-status=held]", { timeout: 15_000 });
  check(!same(alternativeStart, contestedStart), "the loser holds the alternative instead");

  for (const page of [winner, loser]) {
    await page.click("#confirm");
    await page.waitForSelector("#hold-panel[data-status=confirmed]", { timeout: 15_000 });
  }
  check(true, "both confirmed");
  await loser.screenshot({ path: `${outDir}/4-loser-booked.png` });

  const bookings = await call("GET", `/v1/bookings?resource_id=${room.id}&limit=200`);
  const confirmed = bookings.items.filter((b) => b.status === "confirmed");
  check(confirmed.length === 3, `berth holds ${confirmed.length} confirmed bookings (Carol's and the two made here)`);
  const onContested = confirmed.filter((b) => same(b.start_at, contestedStart)).map((b) => b.customer_id).sort();
  check(JSON.stringify(onContested) === JSON.stringify([carol.id, winnerId].sort()), "the contested slot: Carol's and the winner's, no more");
  check(confirmed.some((b) => b.customer_id === loserId && same(b.start_at, alternativeStart)), "the loser's on the alternative");

  // Booked elsewhere: both weeks follow through the change stream alone.
  const later = week.filter((slot) => !same(slot.start_at, contestedStart) && !same(slot.start_at, alternativeStart)).at(-1);
  const laterButton = `.slot[data-start="${later.start_at}"]`;
  check((await loser.locator(laterButton).innerText()).includes("2 left"), "a later slot shows 2 left");
  await call("POST", "/v1/bookings", { resource_id: room.id, customer_id: carol.id, start_at: later.start_at, end_at: later.end_at });
  for (const page of [winner, loser]) {
    await page.waitForFunction(
      (selector) => document.querySelector(selector)?.textContent.includes("1 left"),
      laterButton,
      { timeout: 10_000 },
    );
  }
  check(true, "a booking made elsewhere reaches both weeks live");

  // The winner cancels: the unit comes back, on the loser's page too.
  await winner.click("#cancel");
  await winner.waitForSelector("#hold-panel[data-status=cancelled]", { timeout: 15_000 });
  await loser.waitForFunction(
    (selector) => document.querySelector(selector)?.textContent.includes("1 left"),
    contested,
    { timeout: 10_000 },
  );
  check(true, "a cancellation gives the unit back, live on the other page");

  // The waiting list: a booth of capacity 1, tomorrow 10:00 in Berlin.
  const booth = await call("POST", "/v1/resources", {
    name: `Booth ${run}`,
    capacity: 1,
    time_zone: "Europe/Berlin",
    schedule: { weekly: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], from: "09:00", to: "18:00" }] },
  });
  const { slots: boothSlots } = await call(
    "GET",
    `/v1/resources/${booth.id}/slots?from=${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}T00:00:00Z` +
      `&to=${new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10)}T00:00:00Z&duration_seconds=3600`,
  );
  const full = boothSlots.find((slot) => /T10:00:00\+0[12]:00$/.test(slot.local_start));
  if (!full) throw new Error("no 10:00 slot tomorrow on the booth");
  const fullSlot = `.slot[data-start="${full.start_at}"]`;
  const bobBooth = await open(bob, booth);
  await bobBooth.waitForSelector(fullSlot);
  check((await bobBooth.locator(fullSlot).innerText()).includes("1 left"), "Bob's page shows the booth's last unit");

  // Bob's page may not reload its week until he has clicked.
  let release;
  const released = new Promise((resolve) => (release = resolve));
  const isSlots = (url) => url.pathname.endsWith("/slots");
  const heldBack = [];
  const holdBack = (route) => {
    const sent = released.then(() => route.continue());
    heldBack.push(sent);
    return sent;
  };
  await bobBooth.route(isSlots, holdBack);
  const adaBooking = await call("POST", "/v1/bookings", {
    resource_id: booth.id,
    customer_id: ada.id,
    start_at: full.start_at,
    end_at: full.end_at,
  });
  await bobBooth.click(fullSlot);
  await bobBooth.waitForSelector("#message[data-type=capacity-exceeded] .join-waitlist", { timeout: 15_000 });
  const refusal = await bobBooth.locator("#message").innerText();
  check(refusal.includes("Capacity exceeded") && refusal.includes("Nobody is waiting"), "Bob's page: the slot is full, nobody waits yet");
  await bobBooth.screenshot({ path: `${outDir}/5-full-slot.png` });
  release();
  await Promise.all(heldBack);
  await bobBooth.unroute(isSlots, holdBack);

  await bobBooth.click("#message .join-waitlist");
  await bobBooth.waitForSelector("#waitlist-panel[data-status=waiting]", { timeout: 15_000 });
  const place = await bobBooth.locator("#waitlist-title").innerText();
  check(place.includes("You are number 1 in the queue"), `Bob joins the waiting list: "${place}"`);
  await bobBooth.screenshot({ path: `${outDir}/6-waiting.png` });
  const entries = await call("GET", `/v1/waitlist?resource_id=${booth.id}&customer_id=${bob.id}`);
  check(entries.items.length === 1 && entries.items[0].status === "waiting", "berth has Bob's entry, waiting");
  const entry = entries.items[0];

  const carolTries = await fetch(`${base}/v1/bookings`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ resource_id: booth.id, customer_id: carol.id, start_at: full.start_at, end_at: full.end_at }),
  });
  const carolProblem = await carolTries.json();
  check(
    carolTries.status === 409 && carolProblem.type.endsWith("/problems/capacity-exceeded") && carolProblem.waitlist_length === 1,
    `the next refusal counts Bob in its waitlist_length (${carolProblem.waitlist_length})`,
  );

  // Ada's booking is cancelled: the unit is offered to Bob, live.
  await bobBooth.evaluate(() => {
    window.notReloaded = true;
  });
  await call("POST", `/v1/bookings/${adaBooking.id}/cancel`);
  await bobBooth.waitForSelector("#hold-panel[data-status=held][data-offer=true]", { timeout: 15_000 });
  const offer = await bobBooth.locator("#hold-title").innerText();
  check(/^A place is free for you until \d\d:\d\d$/.test(offer), `Bob's page shows the offer: "${offer}"`);
  check(await bobBooth.evaluate(() => window.notReloaded === true), "the offer arrived without a reload");
  check(await bobBooth.locator("#waitlist-panel").isHidden(), "the queue panel gives way to the offer");
  await bobBooth.screenshot({ path: `${outDir}/7-offer.png` });

  await bobBooth.click("#confirm");
  await bobBooth.waitForSelector("#hold-panel[data-status=confirmed]", { timeout: 15_000 });
  await bobBooth.screenshot({ path: `${outDir}/8-offer-booked.png` });
  const accepted = await call("GET", `/v1/waitlist/${entry.id}`);
  check(accepted.status === "accepted" && accepted.booking_id, `Bob's entry is ${accepted.status}`);
  const taken = await call("GET", `/v1/bookings/${accepted.booking_id}`);
  check(
    taken.status === "confirmed" &&
      taken.customer_id === bob.id &&
      taken.resource_id === booth.id &&
      taken.waitlist_entry_id === entry.id &&
      same(taken.start_at, full.start_at),
    "berth holds Bob's booking of the slot, confirmed, from his entry",
  );

  // Approval: a lab whose customers' bookings are requests, tomorrow 11:00
  // and 12:00 in Berlin; Dora books with a customer's token of her own.
  const lab = await call("POST", "/v1/resources", {
    name: `Lab ${run}`,
    capacity: 1,
    time_zone: "Europe/Berlin",
    schedule: { weekly: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], from: "09:00", to: "18:00" }] },
    policy: { approval_required: true },
  });
  check(lab.policy?.approval_required === true, "the lab's policy asks for approval");
  const { slots: labSlots } = await call(
    "GET",
    `/v1/resources/${lab.id}/slots?from=${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}T00:00:00Z` +
      `&to=${new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10)}T00:00:00Z&duration_seconds=3600`,
  );
  const approved = labSlots.find((slot) => /T11:00:00\+0[12]:00$/.test(slot.local_start));
  const refused = labSlots.find((slot) => /T12:00:00\+0[12]:00$/.test(slot.local_start));
  if (!approved || !refused) throw new Error("no 11:00 and 12:00 slots tomorrow on the lab");
  const dora = await call("POST", "/v1/customers", { email: `dora-${run}@example.com`, name: "Dora" });
  const doraToken = execFileSync(process.env.BERTH, ["token", "--role", "customer", "--sub", dora.id, "--ttl", "2h"], {
    env: { ...process.env },
    encoding: "utf8",
  }).trim();
  const doraLab = await open(dora, lab, doraToken);
  check((await doraLab.locator("#who").innerText()).includes(`customer ${dora.id}`), "Dora's page is signed in as her, a customer");

  // Holds a slot on Dora's page and confirms it: a request, awaiting approval.
  const request = async (slot) => {
    await doraLab.click(`.slot[data-start="${slot.start_at}"]`);
    await doraLab.waitForSelector("#hold-panel[data-status=held]", { timeout: 15_000 });
    check(same(await doraLab.locator("#hold-panel").getAttribute("data-start"), slot.start_at), "Dora holds the slot she clicked");
    await doraLab.click("#confirm");
    await doraLab.waitForSelector("#hold-panel[data-status=pending]", { timeout: 15_000 });
    const title = await doraLab.locator("#hold-title").innerText();
    check(/^Requested — awaiting approval until .+\d\d:\d\d$/.test(title), `Dora's page shows the request: "${title}"`);
    check(await doraLab.locator("#confirm").isHidden(), "a request has nothing left to confirm");
    check(await doraLab.locator("#cancel").isVisible(), "a request can still be cancelled");
    const { items } = await call("GET", `/v1/bookings?resource_id=${lab.id}&status=pending`);
    check(
      items.length === 1 && items[0].customer_id === dora.id && same(items[0].start_at, slot.start_at) && items[0].approval_expires_at,
      `berth holds Dora's request, pending until ${items[0]?.approval_expires_at}`,
    );
    return items[0];
  };

  const first = await request(approved);
  await doraLab.screenshot({ path: `${outDir}/9-pending.png` });
  await doraLab.evaluate(() => {
    window.notReloaded = true;
  });
  await call("POST", `/v1/bookings/${first.id}/approve`);
  await doraLab.waitForSelector("#hold-panel[data-status=confirmed]", { timeout: 15_000 });
  check((await doraLab.locator("#hold-title").innerText()) === "Booked", "the approval reaches Dora's page: Booked");
  check(await doraLab.evaluate(() => window.notReloaded === true), "the approval arrived without a reload");
  await doraLab.screenshot({ path: `${outDir}/10-approved.png` });

  const second = await request(refused);
  await call("POST", `/v1/bookings/${second.id}/decline`);
  await doraLab.waitForSelector("#hold-panel[data-status=declined]", { timeout: 15_000 });
  const declined = await doraLab.locator("#hold-title").innerText();
  check(declined === "Not approved", `the decline reaches Dora's page: "${declined}"`);
  check(await doraLab.evaluate(() => window.notReloaded === true), "the decline arrived without a reload");
  await doraLab.screenshot({ path: `${outDir}/11-declined.png` });

  const [firstNow, secondNow] = await Promise.all([
    call("GET", `/v1/bookings/${first.id}`),
    call("GET", `/v1/bookings/${second.id}`),
  ]);
  check(
    firstNow.status === "confirmed" && firstNow.customer_id === dora.id && same(firstNow.start_at, approved.start_at),
    `berth holds the approved request ${firstNow.status}`,
  );
  check(
    secondNow.status === "declined" && secondNow.customer_id === dora.id && same(secondNow.start_at, refused.start_at),
    `berth holds the declined request ${secondNow.status}`,
  );
  check(pageErrors.length === 0, `no script errors in the pages (${pageErrors.join("; ")})`);
  console.log(`screenshots: ${outDir}`);
} finally {
  await browser.close();
}
