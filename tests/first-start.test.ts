// The first admin key is never lost: a first start that cannot serve (its
// port taken) fails before it makes a store, a master key or a key, so the
// next start still makes one and prints it; a start that has no key to show
// says how to make one.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { isolatedCopy, startBuiltServer, stopAll } from "./helpers/process";

const KEY = /ssod_ak_[A-Za-z0-9_-]{43}/;

test("port taken at first start: a clear refusal, nothing made; the next start prints a usable key; later starts say how to make one", async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const port = (blocker.address() as { port: number }).port;
  const { dir, file } = isolatedCopy();
  try {
    const refused = spawnSync(process.execPath, [file], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", HOME: dir, SSOD_PORT: String(port), SSOD_HOST: "127.0.0.1", SSOD_CACHE_DIR: join(dir, ".cache") },
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, new RegExp(`SSOD_PORT: port ${port} on 127.0.0.1 is already in use`));
    assert.doesNotMatch(refused.stderr, KEY, "no key was made to be lost");
    assert.equal(existsSync(join(dir, "data")), false, "no store, no master key");
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }

  const first = await startBuiltServer({ dir });
  const key = KEY.exec(first.stderr())?.[0];
  try {
    assert.ok(key, `the first start that serves prints a key:\n${first.stderr()}`);
    const r = await fetch(`${first.url}/v1/sources`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(r.status, 200, "the printed key works");
  } finally {
    await stopAll([first]);
  }

  const second = await startBuiltServer({ dir });
  try {
    assert.doesNotMatch(second.stderr(), KEY, "a key is shown only once");
    assert.match(second.stderr(), /Admin keys are shown only when they are made/);
    assert.match(second.stderr(), /node ssod\.mjs admin-key create --name NAME/);
  } finally {
    await stopAll([second]);
  }
});
