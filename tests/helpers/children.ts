// Child processes a test file starts (servers, sqld, CLI runs) are killed when
// the test process exits, whatever path it took: a test that fails half way
// leaves nothing running behind it.
import type { ChildProcess } from "node:child_process";

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Remembers a child until it exits, so that it is killed if the test process ends first. */
export function track<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}
