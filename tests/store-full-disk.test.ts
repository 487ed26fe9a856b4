// SPEC §5 "A full disk" is a store outage, not a bug: writes answer 503 with
// Retry-After in each dialect's shape (never 500), /readyz answers 503 while
// the store refuses writes, reads keep working, the log says so once per
// incident (no stack trace per request), and ssod recovers by itself when
// space is freed, with nothing acknowledged lost.
//
// The built server's store lives on an 8 MiB tmpfs, so SQLite reports
// SQLITE_FULL for real; filler files take the space, and are deleted to free it.
// Needs root (mount); skipped with a message where mount is not permitted.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { SignJWT } from "jose";
import type { Driver } from "../src/store/driver";
import { classifyStoreError, StoreUnavailableError } from "../src/store/errors";
import type { StoreEvent } from "../src/store/events";
import { GroupCommit } from "../src/store/group-commit";
import { WriteHealth } from "../src/store/write-health";
import { type ServerProcess, startBuiltServer } from "./helpers/process";
import { tempDir } from "./helpers/temp";

function mountProblem(): string | undefined {
  if (process.platform !== "linux") return "needs Linux (tmpfs)";
  const probe = join(tempDir("ssod-mount-probe-"), "mnt");
  mkdirSync(probe);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], { stdio: "pipe" });
  } catch (error) {
    return `mount -t tmpfs is not permitted here (run as root): ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  }
  execFileSync("umount", [probe]);
  return undefined;
}
const skip = mountProblem();

function unmount(dir: string): void {
  for (let i = 0; i < 20; i++) {
    try {
      execFileSync("umount", [dir], { stdio: "pipe" });
      return;
    } catch {
      execFileSync("sleep", ["0.1"]);
    }
  }
  execFileSync("umount", ["-l", dir], { stdio: "pipe" });
}

const freeBytes = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

interface Issued {
  token: string;
}

describe("a full disk is a store outage, not a bug", { skip }, () => {
  test("writes answer 503 in every dialect, reads go on, and ssod recovers by itself with nothing acknowledged lost", async () => {
    const root = tempDir("ssod-full-disk-");
    const mnt = join(root, "mnt");
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt]);
    let server: ServerProcess | undefined;
    try {
      server = await startBuiltServer({
        env: {
          SSOD_DATABASE_URL: `file:${join(mnt, "data", "ssod.db")}`,
          // No sweeps to muddle what is written when.
          SSOD_SWEEP_INTERVAL: "86400",
          SSOD_THROTTLE_IP_LIMIT: "1000000",
          SSOD_THROTTLE_CREDENTIAL_LIMIT: "1000000",
        },
      });
      const s = server;
      const key = /ssod_ak_[A-Za-z0-9_-]{43}/.exec(s.stderr())?.[0];
      assert.ok(key, s.stderr());
      const admin = { Authorization: `Bearer ${key}`, "Content-Type": "application/json" };
      const post = (path: string, body: unknown, headers: Record<string, string> = admin) =>
        fetch(`${s.url}${path}`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
      let n = 0;
      const issue = () => post("/v1/tokens", { sourceCode: "default", user: { email: `user-${n++}@example.com`, displayName: "U".repeat(200) } });

      // Before: a LOB source (HS256 caller JWTs with its client secret), a token to introspect, a session to read.
      const lobSource = (await (await post("/v1/sources", { code: "lob", name: "lob", validForSeconds: 300 })).json()) as {
        clientId: string;
        clientSecret: string;
      };
      const lobHeaders = async () => ({
        "x-api-version": "1.0.0",
        "x-lob-client-id": lobSource.clientId,
        "content-type": "application/json",
        authorization: `Bearer ${await new SignJWT({ client_id: lobSource.clientId }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().setExpirationTime("5m").sign(new TextEncoder().encode(lobSource.clientSecret))}`,
      });
      assert.equal((await post("/GenerateSSOToken", { CIINo: "10001004", LOBId: "01", Functionality: "D" }, await lobHeaders())).status, 200);
      const acknowledged: string[] = [];
      const first = await issue();
      assert.equal(first.status, 201);
      const introspected = ((await first.json()) as Issued).token;
      const forSession = ((await (await issue()).json()) as Issued).token;
      const redeemed = (await (await post("/v1/tokens/redeem", { token: forSession })).json()) as { session?: { id: string } };
      assert.ok(redeemed.session, JSON.stringify(redeemed));
      const cookie = { Cookie: `ssod_session=${redeemed.session.id}` };

      // Fill the disk but for 1 MiB, then issue until the store refuses.
      writeFileSync(join(mnt, "filler-1"), Buffer.alloc(Math.max(0, freeBytes(mnt) - 1024 * 1024)));
      let refused: Response | undefined;
      for (let i = 0; i < 3000 && !refused; i++) {
        const r = await issue();
        if (r.status === 201) acknowledged.push(((await r.json()) as Issued).token);
        else refused = r;
      }
      assert.ok(refused, "the store refused a write before 3,000 tokens");
      assert.equal(refused.status, 503, await refused.clone().text());
      // Then take what is left: a write may still fit in space SQLite holds already; each that succeeds is acknowledged.
      writeFileSync(join(mnt, "filler-2"), Buffer.alloc(freeBytes(mnt)));
      let failedInARow = 0;
      for (let i = 0; i < 500 && failedInARow < 10; i++) {
        const r = await issue();
        if (r.status === 201) {
          acknowledged.push(((await r.json()) as Issued).token);
          failedInARow = 0;
        } else {
          assert.equal(r.status, 503, await r.text());
          failedInARow++;
        }
      }
      assert.equal(failedInARow, 10, "writes are refused once the disk is full");
      assert.ok(acknowledged.length > 0, "some tokens were issued before the disk filled");

      // /readyz: 503 while writes are refused. Its probe is the smallest write there is, and may still fit
      // where a token did not; once it does not, no write does, and every answer below is the same.
      let notReady: Response | undefined;
      for (let i = 0; i < 30 && !notReady; i++) {
        const r = await fetch(`${s.url}/readyz`);
        if (r.status === 503) notReady = r;
        else {
          assert.equal(r.status, 200);
          const w = await issue();
          if (w.status === 201) acknowledged.push(((await w.json()) as Issued).token);
          else assert.equal(w.status, 503);
          await new Promise((resolve) => setTimeout(resolve, 1_100));
        }
      }
      assert.ok(notReady, "/readyz answers 503 while the store refuses writes");
      assert.ok(notReady.headers.get("retry-after"));
      assert.equal(((await notReady.json()) as { status: string }).status, "store refuses writes (disk full)");

      // Every dialect's write: 503, Retry-After, its own error shape.
      const v1 = await issue();
      assert.equal(v1.status, 503);
      assert.ok(v1.headers.get("retry-after"), "v1: Retry-After");
      assert.equal(v1.headers.get("content-type"), "application/problem+json");
      assert.equal(((await v1.json()) as { type: string }).type, "urn:ssod:problem:store-unavailable");

      const tyk = await post(
        "/api/sso",
        { ForSection: "dashboard", OrgID: "org1", EmailAddress: "bob@example.com", DisplayName: "Bob", GroupID: "admins" },
        { Authorization: key, "Content-Type": "application/json" },
      );
      assert.equal(tyk.status, 503, await tyk.clone().text());
      assert.ok(tyk.headers.get("retry-after"), "Tyk: Retry-After");
      const tykBody = (await tyk.json()) as { errors: { title: string; detail: string }[] };
      assert.deepEqual(Object.keys(tykBody), ["errors"]);
      assert.equal(tykBody.errors[0]!.title, "Service Unavailable");

      const lob = await post("/GenerateSSOToken", { CIINo: "10001004", LOBId: "01", Functionality: "D" }, await lobHeaders());
      assert.equal(lob.status, 503, await lob.clone().text());
      assert.ok(lob.headers.get("retry-after"), "LOB: Retry-After");
      const lobBody = (await lob.json()) as { ReturnCode: string; ReturnMessage: string };
      assert.deepEqual(Object.keys(lobBody), ["ReturnCode", "ReturnMessage"]);
      assert.equal(lobBody.ReturnCode, "0");

      const legacy = await post(
        "/api.php",
        { Command: "sso.create", APIKey: key, SourceName: "Full", SourceCode: "full_disk", ValidForSeconds: 60 },
        { "Content-Type": "application/json" },
      );
      assert.equal(legacy.status, 503, await legacy.clone().text());
      assert.ok(legacy.headers.get("retry-after"), "api.php: Retry-After");
      const legacyBody = (await legacy.json()) as { Success: boolean; ErrorCode: number[] };
      assert.equal(legacyBody.Success, false);
      assert.deepEqual(legacyBody.ErrorCode, [107]);

      assert.equal((await fetch(`${s.url}/readyz`)).status, 503);
      assert.equal((await fetch(`${s.url}/healthz`)).status, 200, "the process itself is up");

      // Reads go on: introspection and the session.
      const inspected = await post("/v1/tokens/introspect", { token: introspected });
      assert.equal(inspected.status, 200);
      assert.equal(((await inspected.json()) as { active: boolean }).active, true);
      assert.equal((await fetch(`${s.url}/v1/session`, { headers: cookie })).status, 200);

      // Free the space: ssod recovers by itself.
      rmSync(join(mnt, "filler-1"));
      rmSync(join(mnt, "filler-2"));
      let recovered = false;
      for (let i = 0; i < 100 && !recovered; i++) {
        const r = await issue();
        if (r.status === 201) {
          acknowledged.push(((await r.json()) as Issued).token);
          recovered = true;
        } else {
          assert.equal(r.status, 503);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      assert.ok(recovered, "writes go through again once space is freed");
      assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
      assert.equal(
        (
          await post(
            "/api/sso",
            { ForSection: "dashboard", OrgID: "org1", EmailAddress: "bob@example.com" },
            { Authorization: key, "Content-Type": "application/json" },
          )
        ).status,
        200,
      );

      // Nothing acknowledged is lost: each token is redeemed exactly once.
      acknowledged.push(introspected);
      for (const token of acknowledged) {
        const once = await post("/v1/tokens/redeem", { token });
        assert.equal(once.status, 200, await once.text());
        assert.equal((await post("/v1/tokens/redeem", { token })).status, 400);
      }

      // The log: one warning when the incident began, one line when it ended; no error, no stack trace.
      const lines = async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return s
          .stdout()
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      };
      let log = await lines();
      for (let i = 0; i < 30 && !log.some((l) => l.msg === "store accepts writes again"); i++) log = await lines();
      assert.equal(log.filter((l) => String(l.msg).startsWith("store refuses writes")).length, 1, s.stdout());
      assert.equal(log.filter((l) => l.msg === "store accepts writes again").length, 1, s.stdout());
      assert.deepEqual(
        log.filter((l) => l.level === "error" || l.level === "fatal" || "err" in l),
        [],
      );
      assert.equal(log.filter((l) => l.status === 500).length, 0, "no request answered 500");

      server.kill("SIGTERM");
      assert.equal(await server.exited, 0);
      server = undefined;
    } finally {
      if (server) {
        server.kill("SIGKILL");
        await server.exited;
      }
      unmount(mnt);
    }
  });
});

describe("SQLITE_FULL in the store layer", () => {
  const full = () => Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });

  test("is classified as the store being unavailable, reason full", () => {
    for (const error of [full(), new Error("SQLITE_FULL: database or disk is full"), Object.assign(new Error("x"), { cause: { code: "SQLITE_FULL" } })]) {
      const classified = classifyStoreError(error);
      assert.ok(classified instanceof StoreUnavailableError);
      assert.equal(classified.reason, "full");
    }
  });

  test("the group commit refuses the whole batch at once, never retried piece by piece", async () => {
    let batches = 0;
    const driver = {
      kind: "file",
      batch: async () => {
        batches++;
        throw classifyStoreError(full());
      },
    } as unknown as Driver;
    const commits = new GroupCommit(driver, { maxEntries: 512, maxInFlight: 1, busyRetries: 4, busyRetryDelayMs: 1 });
    const unit = { statements: [{ sql: "INSERT INTO t VALUES (1)", args: [] }], decode: () => "ok" };
    const outcomes = await Promise.allSettled([commits.write(unit), commits.write(unit), commits.write(unit)]);
    assert.equal(batches, 1, "one batch, not split");
    for (const outcome of outcomes) {
      assert.equal(outcome.status, "rejected");
      assert.ok(outcome.reason instanceof StoreUnavailableError && outcome.reason.reason === "full");
    }
  });

  test("the write state flips with each outcome, but the log hears of one incident, begun and ended once", async () => {
    const events: StoreEvent[] = [];
    const health = new WriteHealth((event) => events.push(event), 50);
    health.observe(classifyStoreError(full()));
    const since = health.refusingSince;
    assert.ok(since);
    health.observe(); // a small write fits
    assert.equal(health.refusingSince, undefined);
    health.observe(classifyStoreError(full()));
    health.observe(classifyStoreError(full()));
    health.observe(new Error("some other failure")); // not a full disk: no say in it
    assert.ok(health.refusingSince);
    // While refused, the probe runs at most once a second.
    let probes = 0;
    const failing = () => {
      probes++;
      return Promise.reject(classifyStoreError(full()));
    };
    assert.equal(await health.writesAccepted(failing), false);
    assert.equal(await health.writesAccepted(failing), false);
    assert.equal(probes, 1);
    health.observe();
    assert.equal(await health.writesAccepted(failing), true, "no probe while writes go through");
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.deepEqual(
      events.map((e) => e.kind),
      ["writes-refused", "writes-accepted"],
    );
    const ended = events[1] as Extract<StoreEvent, { kind: "writes-accepted" }>;
    assert.equal(ended.since, since);
    assert.equal(ended.failedWrites, 3);
    health.close();
  });
});
