// Drives the console in a real headless Chromium (Debian's /usr/bin/chromium) with playwright-core.
//
//   node tests/browser/console.test.mjs <scenario> <base url> <api key> [options as JSON]
//
// Scenarios: recommendations, not-interested, action, model, screenshot. Options: user (whose
// recommendations), version (the model_version the model panel must show), refresh (click the
// refresh button and wait for a new version), path (where the screenshot goes).
// Prints one JSON line of what it saw and exits 0; on any failure it prints why (with the page's
// errors and a screenshot's path) and exits 1. tests/e2e/test_console.py runs each scenario.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [scenario, base, apiKey, rawOptions = "{}"] = process.argv.slice(2);
const options = JSON.parse(rawOptions);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// Without the background-networking flags Chromium's own connections are refused on these
// machines and it stalls; every run gets a fresh profile.
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function pasteKey(page) {
  await page.goto(`${base}/console`, { waitUntil: "load" });
  await page.waitForSelector("body[data-ready=true]");
  await page.fill("#key-input", apiKey);
  await page.click("#key-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("key-state").textContent.startsWith("Key in use"));
  const stored = await page.evaluate(() => sessionStorage.getItem("recsys.console.key"));
  check(stored === apiKey, "the pasted key is not in sessionStorage");
  const html = await page.content();
  check(!html.includes(apiKey), "the key appears in the page");
  check((await page.inputValue("#key-input")) === "", "the key stays in its input after use");
  const local = await page.evaluate(() => Object.keys(localStorage).length);
  check(local === 0, "the console wrote to localStorage");
}

async function loadUser(page, user) {
  await page.fill("#user-input", user);
  await page.click("#user-form button[type=submit]");
  await page.waitForFunction(
    (u) => document.getElementById("user-input").value === u && document.querySelectorAll("#recs li.rec").length >= 3,
    user,
  );
}

const recommended = (page) => page.$$eval("#recs li.rec", (items) => items.map((li) => li.dataset.itemId));

async function actOnTop(page, action) {
  const before = await recommended(page);
  const target = before[0];
  await page.click(`#recs li.rec[data-item-id="${target}"] button[data-action="${action}"]`);
  await page.waitForFunction(
    (id) => !document.querySelector(`#recs li.rec[data-item-id="${id}"]`) && document.querySelector("#effect.done"),
    target,
    { timeout: 20000 },
  );
  const after = await recommended(page);
  const effect = await page.$eval("#effect", (e) => ({ text: e.textContent, ms: Number(e.dataset.effectMs) }));
  check(!after.includes(target), `${target} is still recommended after ${action}`);
  return { target, before, after, effect_ms: effect.ms, effect: effect.text };
}

const scenarios = {
  async recommendations(page) {
    await pasteKey(page);
    await loadUser(page, options.user);
    const items = await recommended(page);
    const bars = await page.$$eval("#recs li.rec", (lis) => lis.map((li) => li.querySelectorAll(".factor .bar").length));
    check(bars.every((n) => n >= 1), "a recommendation has no factor bars");
    const widths = await page.$$eval("#recs li.rec:first-child .factor .bar", (bs) => bs.map((b) => b.style.width));
    const version = await page.$eval("#recs-version", (e) => e.dataset.modelVersion);
    await page.waitForSelector("#history tbody tr[data-item-id]");
    const history = await page.$$eval("#history tbody tr[data-item-id]", (rows) => rows.map((r) => r.dataset.itemId));
    // the key outlives a reload in this tab (sessionStorage), and is still nowhere in the page
    await page.reload({ waitUntil: "load" });
    await page.waitForFunction(() => document.getElementById("key-state").textContent.startsWith("Key in use"));
    check(!(await page.content()).includes(apiKey), "the key appears in the page after a reload");
    return { items, bars, widths, model_version: version, history };
  },

  async "not-interested"(page) {
    await pasteKey(page);
    await loadUser(page, options.user);
    return actOnTop(page, "not_interested");
  },

  async action(page) {
    await pasteKey(page);
    await loadUser(page, options.user);
    return actOnTop(page, options.action || "watch");
  },

  async model(page) {
    await pasteKey(page);
    await page.waitForFunction(
      (v) => document.getElementById("model-version")?.dataset.modelVersion === v,
      options.version,
      { timeout: 15000 },
    );
    const shown = await page.$eval("#model-version", (e) => e.textContent);
    const facts = await page.$$eval("#model dt", (dts) => dts.map((d) => d.textContent));
    const versions = await page.$$eval("#versions li", (lis) => lis.map((li) => li.dataset.modelVersion));
    const current = await page.$eval("#versions li.current", (li) => li.dataset.modelVersion);
    check(current === options.version, `the current version listed is ${current}`);
    const result = { shown, facts, versions };
    if (options.refresh) {
      await page.waitForFunction(() => !document.getElementById("refresh-model").disabled);
      await page.click("#refresh-model");
      await page.waitForFunction(
        (v) => {
          const published = document.getElementById("refresh-state").dataset.published;
          return published && published !== v;
        },
        options.version,
        { timeout: 240000, polling: 500 },
      );
      result.published = await page.$eval("#refresh-state", (e) => e.dataset.published);
      result.refresh_state = await page.$eval("#refresh-state", (e) => e.textContent);
      result.shown_after = await page.$eval("#model-version", (e) => e.dataset.modelVersion);
    }
    return result;
  },

  // the README's picture: a like and its effect, similar items, an assignment
  async screenshot(page) {
    await pasteKey(page);
    await loadUser(page, options.user);
    await page.waitForSelector("#history tbody tr[data-item-id]");
    const acted = await actOnTop(page, "like");
    const assign = await page.$("#experiments .assign button");
    if (assign) {
      await assign.click();
      await page.waitForSelector("#experiments .assigned");
    }
    const items = await recommended(page);
    await page.click(`#recs li.rec[data-item-id="${items[0]}"] button[data-action="similar"]`);
    await page.waitForSelector("#similar li.similar");
    await page.waitForSelector("#ingest .spark, #ingest p");
    await page.waitForTimeout(300);
    await page.screenshot({ path: options.path, fullPage: true });
    return { path: options.path, items, liked: acted.target, effect_ms: acted.effect_ms };
  },
};

async function main() {
  check(scenarios[scenario], `unknown scenario ${scenario}: one of ${Object.keys(scenarios).join(", ")}`);
  const profile = mkdtempSync(join(tmpdir(), "console-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: options.width || 1440, height: options.height || 1000 },
    deviceScaleFactor: options.scale || 1,
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15000);
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // the API's own 4xx answers (a user without preferences is a 404) are the page's to show
    const fromApi = (message.location().url || "").includes("/v1/");
    if (message.type() === "error" && !fromApi) problems.push(`console: ${message.text()}`);
  });
  try {
    const result = await scenarios[scenario](page);
    // a script error, a refused resource or a Content-Security-Policy violation fails the run
    const errors = [...new Set(problems)];
    check(!errors.length, errors.slice(0, 5).join("; "));
    console.log(JSON.stringify({ scenario, ok: true, ...result }));
    return 0;
  } catch (error) {
    const shot = join(tmpdir(), `console-${scenario}-failure.png`);
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    const notice = await page.$eval("#notice", (n) => n.textContent).catch(() => "");
    const seen = [...new Set(problems)].slice(0, 10);
    console.log(JSON.stringify({ scenario, ok: false, error: String(error.stack || error), notice, problems: seen, screenshot: shot }));
    return 1;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

process.exitCode = await main();
