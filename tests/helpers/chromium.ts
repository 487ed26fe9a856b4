// Debian's Chromium through playwright-core, with the flags this machine
// needs (no sandbox as root; no background networking: the network is closed).
import { type Browser, chromium } from "playwright-core";

/** `args`: more flags, e.g. `--host-resolver-rules=MAP *.fa.test 127.0.0.1` for host names of a test's own. */
export function launchChromium(args: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...args,
    ],
  });
}
