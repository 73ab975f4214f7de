// Open a single-file Allure report in headless chromium and print what a reviewer sees, as JSON.
//
//   node tools/report/check-report.mjs REPORT.html SCREENSHOT.png TEST_NAME [ATTACHMENT_NAME]
//
// Prints, as one JSON object: `environment` (the overview's environment table), `sections` and
// `tests` (the tree, every section expanded), `metadata` and `attachments` (TEST_NAME's page:
// labels and parameters as key -> values, attachment headers) and `image` (the rendered size
// of ATTACHMENT_NAME, default "worst images"),
// then saves a screenshot of that page. The caller (tests/reporting/test_report_html.py) asserts.
// Chromium: $CHROMIUM or /usr/bin/chromium, started with the flags Debian's build needs headless.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [report, screenshot, testName, attachmentName = "worst images"] = process.argv.slice(2);
if (!report || !screenshot || !testName) {
  console.error("usage: check-report.mjs REPORT.html SCREENSHOT.png TEST_NAME [ATTACHMENT_NAME]");
  process.exit(2);
}
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
  "--disable-quic", "--disable-component-update", "--disable-sync"];
const TIMEOUT = Number(process.env.IGMU_REPORT_TIMEOUT_MS || 120000);

// key -> values of the metadata tables on the current page (environment, labels, parameters)
function readMetadata() {
  const found = {};
  for (const item of document.querySelectorAll('[data-testid="metadata-item"]')) {
    const key = item.querySelector('[data-testid="metadata-item-key"]')?.innerText.trim();
    const value = item.querySelector('[data-testid="metadata-item-value"]')?.innerText.trim();
    if (key) (found[key] ??= []).push(value);
  }
  return found;
}

const profile = mkdtempSync(join(tmpdir(), "igmu-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: FLAGS,
  viewport: { width: 1400, height: 1000 },
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  if (process.env.IGMU_REPORT_DEBUG) {
    page.on("console", (m) => console.error("console:", m.type(), m.text()));
    page.on("pageerror", (e) => console.error("pageerror:", e.message));
  }
  await page.goto(pathToFileURL(resolve(report)).href);
  await page.waitForSelector('[data-testid="tree-leaf-title"]', { state: "attached" });

  // Expand every collapsed section (a collapsed section has no tree-content sibling).
  for (let round = 0; round < 20; round++) {
    const closed = [];
    for (const section of await page.locator('[data-testid="tree-section"]').all()) {
      const open = await section.evaluate((s) => !!s.parentElement.querySelector(':scope > [data-testid="tree-content"]'));
      if (!open) closed.push(section);
    }
    if (closed.length === 0) break;
    await closed[0].locator('[data-testid="tree-arrow"]').click();
  }
  const environment = await page.evaluate(readMetadata);
  const sections = await page.locator('[data-testid="tree-section-title"]').allInnerTexts();
  const tests = await page.locator('[data-testid="tree-leaf-title"]').allInnerTexts();

  await page.locator('[data-testid="tree-leaf-title"]', { hasText: testName }).first().click();
  await page.waitForSelector('[data-testid="test-result-attachment-header"]');
  const metadata = await page.evaluate(readMetadata);
  const attachments = await page.locator('[data-testid="test-result-attachment-header"]').allInnerTexts();
  const header = page.locator('[data-testid="test-result-attachment-header"]', { hasText: attachmentName }).first();
  await header.click();
  const image = page.locator('[data-testid="test-result-attachment"]', { has: header }).locator("img").first();
  await image.waitFor({ state: "visible" });
  await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await image.elementHandle());
  // the shown image's size and mean RGB (canvas), so the caller can match it to the attachment file
  const size = await image.evaluate((img) => {
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const mean = [0, 0, 0];
    for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) mean[c] += data[i + c];
    const box = img.getBoundingClientRect();
    return { naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, width: box.width, height: box.height,
      meanRGB: mean.map((m) => m / (data.length / 4)) };
  });
  await image.scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ environment, sections, tests, metadata, attachments, image: size }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
