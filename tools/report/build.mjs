// Turn allure-results folders into ONE self-contained, offline HTML compliance report.
//
//   node tools/report/build.mjs [-o OUT_DIR] [--name NAME] RESULTS_DIR [RESULTS_DIR ...]
//
// Several folders (one per CI shard) merge into one report, as Allure does natively.
// Allure 3.18's single-file page needs two fixes to be a document you can archive and open
// anywhere over file://, which this script applies and then checks:
//   1. it loads Google Analytics (gtag) whenever it is opened online: removed, since an audit
//      report of a model's harmful outputs must not call anyone when opened;
//   2. its app can ask for data before the embedded data script has run and then falls back
//      to fetch(), which file:// forbids (an intermittently empty report): declaring
//      window.allureReportData first makes the app always wait for the embedded data.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let out = "allure-report";
let name = "igmu-audit compliance report";
const results = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "-o" || args[i] === "--output") out = args[++i];
  else if (args[i] === "--name") name = args[++i];
  else results.push(args[i]);
}
if (results.length === 0) {
  console.error("usage: build.mjs [-o OUT_DIR] [--name NAME] RESULTS_DIR [RESULTS_DIR ...]");
  process.exit(2);
}

const allure = join(here, "node_modules", ".bin", "allure");
const run = spawnSync(
  allure,
  ["generate", ...results.map((r) => resolve(r)), "-o", resolve(out), "--config", join(here, "allurerc.mjs"),
    "--name", name],
  { stdio: "inherit" },
);
if (run.status !== 0) {
  console.error(`allure generate failed (exit ${run.status ?? run.signal})`);
  process.exit(1);
}

const index = join(resolve(out), "index.html");
let html = readFileSync(index, "utf8");
html = html.replace(
  /<script async src="https:\/\/www\.googletagmanager\.com\/gtag\/js[^"]*"><\/script>\s*<script>[\s\S]*?<\/script>/,
  "",
);
html = html.replace("<head>", "<head>\n    <script>window.allureReportData = window.allureReportData || {};</script>");
const remote = html.match(/(?:src|href)="https?:\/\/[^"]*"/g) ?? [];
if (html.includes("googletagmanager") || remote.length > 0) {
  console.error(`the report still loads remote resources: ${remote.join(", ") || "googletagmanager"}`);
  process.exit(1);
}
writeFileSync(index, html);
console.log(index);
