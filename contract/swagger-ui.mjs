// Swagger UI in a real browser (Debian's Chromium, driven by playwright-core,
// which downloads no browser of its own): the operations render, "Authorize"
// takes a token, POST /v1/bookings executed twice on a capacity-1 resource
// shows a 201 and then the 409 problem. Saves a screenshot.
//
//   node swagger-ui.mjs BASE TOKEN RESOURCE_ID CUSTOMER_A CUSTOMER_B START END SCREENSHOT
import { chromium } from "playwright-core";

const [base, token, resourceId, customerA, customerB, start, end, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const check = (ok, what) => {
  if (!ok) throw new Error(`Swagger UI: ${what}`);
  console.log(`ok: ${what}`);
};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 2200 } });
  await page.goto(`${base}/docs/`);
  await page.waitForSelector(".opblock", { timeout: 30_000 });
  const operations = await page.locator(".opblock").count();
  check(operations >= 20, `${operations} operations render`);

  await page.click("button.authorize");
  await page.fill(".modal-ux input[type=text]", token);
  await page.click(".modal-ux button.authorize");
  await page.click(".modal-ux button.btn-done");
  check(await page.locator("button.authorize.locked").count() > 0, "authorized with a bearer token");

  const operation = page.locator("#operations-bookings-create_booking");
  await operation.locator(".opblock-summary").click();
  await operation.locator(".try-out__btn").click();
  const execute = async (customer) => {
    const body = { resource_id: resourceId, customer_id: customer, start_at: start, end_at: end, quantity: 1 };
    await operation.locator("textarea.body-param__text").fill(JSON.stringify(body, null, 2));
    await operation.locator("button.execute").click();
    const status = operation.locator(".live-responses-table tr.response .response-col_status").first();
    await status.waitFor({ timeout: 15_000 });
    const text = await operation.locator(".live-responses-table tr.response .response-col_description").first().innerText();
    const code = (await status.innerText()).trim();
    return { code, text };
  };
  const first = await execute(customerA);
  check(first.code === "201", `first booking answered ${first.code}`);
  await operation.locator("button.btn-clear").click();
  const second = await execute(customerB);
  check(second.code === "409", `second booking answered ${second.code}`);
  check(second.text.includes("capacity-exceeded") && second.text.includes("\"available\": 0"), "the 409 problem body is rendered");
  await operation.scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot, fullPage: false });
  console.log(`screenshot: ${screenshot}`);
} finally {
  await browser.close();
}
