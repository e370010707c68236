// The booking page in a real browser (Debian's Chromium driven by
// playwright-core) against a real berth serving it at /demo/:
//
// 1. Two browser contexts (two people) open the page on a capacity-1 room
//    and see the same week of slots in the room's time zone.
// 2. Both hold the same slot at once: exactly one gets the hold (with a
//    countdown); the other sees the 409 problem's title and detail and
//    the alternatives berth offered, and its week has dropped the slot
//    (the live change stream reloaded it).
// 3. The loser holds an offered alternative; both confirm. berth then
//    holds two confirmed bookings at different times and never two on
//    the contested slot.
// Screenshots of each step go to OUTDIR.
//
//   node test/race.mjs BASE ADMIN_TOKEN OUTDIR
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const [base, token, outDir] = process.argv.slice(2);
if (!base || !token || !outDir) throw new Error("usage: node test/race.mjs BASE ADMIN_TOKEN OUTDIR");
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
  capacity: 1,
  time_zone: "Europe/Berlin",
  schedule: { weekly: [{ days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], from: "09:00", to: "18:00" }] },
});
const ada = await call("POST", "/v1/customers", { email: `ada-${run}@example.com`, name: "Ada" });
const bob = await call("POST", "/v1/customers", { email: `bob-${run}@example.com`, name: "Bob" });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const open = async (customer) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: "America/New_York" });
    const page = await context.newPage();
    page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
    await page.goto(`${base}/demo/?token=${encodeURIComponent(token)}&resource=${room.id}&customer=${customer.id}`);
    await page.waitForSelector(".slot", { timeout: 20_000 });
    await page.waitForSelector("#live[data-state=on]", { timeout: 10_000 });
    return page;
  };
  const adaPage = await open(ada);
  const bobPage = await open(bob);
  check(!(adaPage.url().includes("token=")), "the token is taken out of the address bar");
  check((await adaPage.locator("#zones").innerText()).includes("Europe/Berlin"), "times are shown in the room's time zone");

  // Tomorrow's first slot (09:00 Berlin), the same button on both pages.
  const slots = await adaPage.locator(".slot").evaluateAll((buttons) => buttons.map((b) => b.dataset.start));
  const tomorrow = slots.find((start) => new Date(start).getTime() > Date.now() + 12 * 3_600_000);
  check(Boolean(tomorrow), `a slot to race for (${tomorrow})`);
  const contested = `.slot[data-start="${tomorrow}"]`;
  await bobPage.waitForSelector(contested);
  check((await adaPage.locator(contested).innerText()).includes("1 left"), "the slot shows its remaining unit");
  await adaPage.screenshot({ path: `${outDir}/1-week.png` });

  await Promise.all([adaPage.click(contested), bobPage.click(contested)]);
  const outcome = async (page) => {
    const held = page.locator("#hold-panel[data-status=held]");
    const refused = page.locator("#message[data-type=capacity-exceeded]");
    await held.or(refused).waitFor({ timeout: 15_000 });
    return (await held.count()) > 0 ? "held" : "refused";
  };
  const [adaOutcome, bobOutcome] = await Promise.all([outcome(adaPage), outcome(bobPage)]);
  check([adaOutcome, bobOutcome].sort().join() === "held,refused", `one hold, one refusal (ada ${adaOutcome}, bob ${bobOutcome})`);
  const [winner, loser] = adaOutcome === "held" ? [adaPage, bobPage] : [bobPage, adaPage];

  check(/Confirm within \d+:\d\d/.test(await winner.locator("#hold-countdown").innerText()), "the hold counts down");
  await winner.screenshot({ path: `${outDir}/2-winner-holds.png` });
  const problem = await loser.locator("#message").innerText();
  check(problem.includes("Capacity exceeded") || problem.toLowerCase().includes("capacity"), "the loser sees the problem's title");
  const alternatives = loser.locator("#message .alternative");
  check((await alternatives.count()) > 0, `the loser is offered ${await alternatives.count()} alternatives`);
  await loser.waitForSelector(contested, { state: "detached", timeout: 10_000 });
  check(true, "the loser's week dropped the taken slot");
  await loser.screenshot({ path: `${outDir}/3-loser-conflict.png` });

  const alternativeStart = await alternatives.first().getAttribute("data-start");
  await alternatives.first().click();
  await loser.waitForSelector("#hold-panel[data-status=held]", { timeout: 15_000 });
  check(alternativeStart !== tomorrow, "the loser holds the alternative instead");

  for (const page of [winner, loser]) {
    await page.click("#confirm");
    await page.waitForSelector("#hold-panel[data-status=confirmed]", { timeout: 15_000 });
  }
  check(true, "both confirmed");
  await loser.screenshot({ path: `${outDir}/4-loser-booked.png` });

  const bookings = await call("GET", `/v1/bookings?resource_id=${room.id}&limit=200`);
  const confirmed = bookings.items.filter((b) => b.status === "confirmed");
  check(confirmed.length === 2, `berth holds ${confirmed.length} confirmed bookings`);
  const onContested = confirmed.filter((b) => new Date(b.start_at).getTime() === new Date(tomorrow).getTime());
  check(onContested.length === 1, "exactly one on the contested slot");
  check(confirmed.some((b) => new Date(b.start_at).getTime() === new Date(alternativeStart).getTime()), "the other on the alternative");
  console.log(`screenshots: ${outDir}`);
} finally {
  await browser.close();
}
