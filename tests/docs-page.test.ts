// /docs in a real browser: once RapiDoc has rendered the document, the
// groups named for people and the short operation names are on the page, and
// an alias says it is one. A screenshot is kept for a person to look at.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { launchChromium } from "./helpers/chromium";
import { type ServerProcess, startBuiltServer } from "./helpers/process";

let server: ServerProcess;
let browser: Browser;

before(async () => {
  server = await startBuiltServer();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  server?.kill("SIGKILL");
  await server?.exited;
});

test("/docs renders the groups and the operations, short and readable", { timeout: 60_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${server.url}/docs`);
  // RapiDoc fetches /openapi.json and renders into its shadow root: wait for an operation to appear.
  const groups = ["Native v1: sources", "Native v1: tokens", "Tyk nonce API", "Line-of-business GenerateSSOToken", "Legacy api.php", "Operations"];
  for (const group of groups) await page.getByText(group, { exact: true }).first().waitFor({ timeout: 20_000 });
  for (const operation of [
    "Create a nonce token for SSO authentication",
    "Generate the user token for single sign on",
    "Run an api.php command",
    "Issue a single-use login token",
  ]) {
    assert.ok(await page.getByText(operation).first().isVisible(), `${operation} is shown`);
  }
  assert.ok((await page.getByText("(alias)").count()) > 0, "aliases are marked");
  assert.equal(await page.getByText("Lob", { exact: true }).count(), 0, "no group is named after a code");
  // Kept beside the build (dist/ is not tracked) for a person to look at.
  const shot = fileURLToPath(new URL("../dist/screenshots/docs.png", import.meta.url));
  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot });
  process.stdout.write(`# /docs screenshot: ${shot}\n`);
  await page.close();
});
