// The store (src/store): migrations under a lock kept in the store itself,
// the `default` source of the first migration, and group commit — many
// concurrent write units in one transaction, a failing unit refused alone —
// on a real libSQL file in a temp folder and on a real sqld, over a WebSocket
// (src/store/hrana-ws-driver.ts) and over HTTP. Nothing mocked.
import assert from "node:assert/strict";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { rowObjects } from "../src/store/driver";
import { StoreQueryError, StoreUnavailableError } from "../src/store/errors";
import { bundledMigrations, migrate, migrationsApplied } from "../src/store/migrations";
import { openStore, type Store } from "../src/store/store";
import { type Sqld, startSqld } from "./helpers/sqld";
import { tempDir } from "./helpers/temp";

const fileUrl = () => `file:${join(tempDir("ssod-store-"), "ssod.db")}`;

async function count(store: Store, sql: string, args: (string | number)[] = []): Promise<number> {
  const result = await store.driver.query({ sql, args });
  return Number(result.rows[0]![0]);
}

// ---------------------------------------------------------------------------
// The file store's writer thread gets each SQL text once and each distinct
// value once per message (src/store/packed-statements.ts).
describe("statements sent to the file store's writer thread", () => {
  test("one text with many values, a value bound twice, texts named before and after: every statement runs with its own", async () => {
    const store = await openStore({ url: fileUrl() });
    try {
      await store.driver.execute({ sql: "CREATE TABLE t (a, b)", args: [] });
      const insert = "INSERT INTO t (a, b) VALUES (?, ?)";
      for (let round = 0; round < 3; round++) {
        await store.driver.batch(
          [
            { sql: insert, args: [`r${round}`, `r${round}`] },
            { sql: insert, args: [round, null] },
            { sql: `${insert} -- ${round}`, args: ["same", "same"] },
          ],
          "write",
        );
      }
      const rows = (await store.driver.query({ sql: "SELECT a, b FROM t ORDER BY rowid", args: [] })).rows;
      assert.deepEqual(rows, [
        ["r0", "r0"],
        [0, null],
        ["same", "same"],
        ["r1", "r1"],
        [1, null],
        ["same", "same"],
        ["r2", "r2"],
        [2, null],
        ["same", "same"],
      ]);
    } finally {
      await store.close();
    }
  });

  test("a statement whose value cannot be sent fails alone; its text still works afterwards", async () => {
    const store = await openStore({ url: fileUrl() });
    try {
      const sql = "SELECT ? AS v -- sent once";
      // A function cannot cross to another thread: the send itself throws.
      await assert.rejects(store.driver.execute({ sql, args: [(() => 1) as unknown as string] }));
      assert.deepEqual((await store.driver.execute({ sql, args: ["after"] })).rows, [["after"]]);
    } finally {
      await store.close();
    }
  });
});

// ---------------------------------------------------------------------------
describe("migrations", () => {
  test("a new file: migrate applies every bundled migration, then reports nothing pending", async () => {
    const store = await openStore({ url: fileUrl() });
    try {
      const tags = bundledMigrations().map((m) => m.tag);
      assert.ok(tags.length >= 1);
      assert.equal(await migrationsApplied(store.driver), false);
      const first = await migrate(store.driver);
      assert.deepEqual(first, { applied: tags, total: tags.length });
      assert.equal(await migrationsApplied(store.driver), true);
      const second = await migrate(store.driver);
      assert.deepEqual(second, { applied: [], total: tags.length });
      const rows = rowObjects<{ tag: string }>(await store.driver.query({ sql: "SELECT tag FROM ssod_migrations ORDER BY tag", args: [] }));
      assert.deepEqual(
        rows.map((r) => r.tag),
        [...tags].sort(),
      );
      // The lock is released.
      assert.equal(await count(store, "SELECT count(*) FROM ssod_locks WHERE name = 'migrate'"), 0);
    } finally {
      await store.close();
    }
  });

  test("the `default` source exists after migration: validForSeconds 60, all three options on", async () => {
    const store = await openStore({ url: fileUrl() });
    try {
      await migrate(store.driver);
      const rows = rowObjects<Record<string, unknown>>(
        await store.driver.query({
          sql: "SELECT id, code, valid_for_seconds, create_users, perform_login, return_user_data, expires_at, client_id FROM sso_sources",
          args: [],
        }),
      );
      assert.equal(rows.length, 1);
      const row = rows[0]!;
      assert.equal(row.code, "default");
      assert.equal(Number(row.valid_for_seconds), 60);
      assert.equal(Number(row.create_users), 1);
      assert.equal(Number(row.perform_login), 1);
      assert.equal(Number(row.return_user_data), 1);
      assert.equal(row.expires_at, null);
      assert.ok(String(row.client_id).length > 0);
      // Migrating again does not add a second one.
      await migrate(store.driver);
      assert.equal(await count(store, "SELECT count(*) FROM sso_sources WHERE code = 'default'"), 1);
    } finally {
      await store.close();
    }
  });

  test("two openStore()+migrate() on the same new file at once: each migration applied once", async () => {
    const url = fileUrl();
    const [a, b] = await Promise.all([openStore({ url }), openStore({ url })]);
    try {
      const tags = bundledMigrations().map((m) => m.tag);
      const [ra, rb] = await Promise.all([migrate(a.driver), migrate(b.driver)]);
      // Both report, neither fails; between them every migration was applied exactly once.
      assert.equal(ra.total, tags.length);
      assert.equal(rb.total, tags.length);
      assert.deepEqual([...ra.applied, ...rb.applied].sort(), [...tags].sort(), `a: ${ra.applied}, b: ${rb.applied}`);
      for (const tag of tags) {
        assert.equal(await count(a, "SELECT count(*) FROM ssod_migrations WHERE tag = ?", [tag]), 1, tag);
      }
      assert.equal(await count(a, "SELECT count(*) FROM ssod_migrations"), tags.length);
      assert.equal(await count(b, "SELECT count(*) FROM sso_sources WHERE code = 'default'"), 1);
      assert.equal(await migrationsApplied(a.driver), true);
      assert.equal(await migrationsApplied(b.driver), true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("four at once on another new file: still one row per tag, one default source", async () => {
    const url = fileUrl();
    const stores = await Promise.all([1, 2, 3, 4].map(() => openStore({ url })));
    try {
      const tags = bundledMigrations().map((m) => m.tag);
      const reports = await Promise.all(stores.map((st) => migrate(st.driver)));
      assert.deepEqual(reports.flatMap((r) => r.applied).sort(), [...tags].sort());
      assert.equal(await count(stores[0]!, "SELECT count(*) FROM ssod_migrations"), tags.length);
      assert.equal(await count(stores[3]!, "SELECT count(*) FROM sso_sources"), 1);
    } finally {
      await Promise.all(stores.map((st) => st.close()));
    }
  });
});

// ---------------------------------------------------------------------------
/** Where the group-commit tests run: each backend a store of its own. */
interface Backend {
  name: string;
  /** A new, empty store's URL and token (for a file, a new file; for sqld, a server of its own). */
  start(): Promise<{ url: string; authToken?: string }>;
  stop(): Promise<void>;
}

function sqldBackend(name: string, urlOf: (sqld: Sqld) => string): Backend {
  let sqld: Sqld | undefined;
  return {
    name,
    async start() {
      sqld ??= await startSqld();
      return { url: urlOf(sqld), authToken: sqld.token };
    },
    stop: async () => sqld?.stop(),
  };
}

const backends: Backend[] = [
  { name: "a file", start: async () => ({ url: fileUrl() }), stop: async () => {} },
  sqldBackend("sqld over a WebSocket", (sqld) => sqld.wsUrl),
  sqldBackend("sqld over HTTP", (sqld) => sqld.url),
];

for (const backend of backends)
  describe(`group commit (store.write) on ${backend.name}`, () => {
    let store: Store;
    let target: { url: string; authToken?: string };
    /** Every batch the group commit sent: how many units, whether it committed. */
    const batches: { entries: number; ok: boolean }[] = [];
    before(async () => {
      target = await backend.start();
      store = await openStore({ ...target, groupCommit: { onBatch: ({ entries, ok }) => batches.push({ entries, ok }) } });
      await migrate(store.driver);
    });
    // Whatever before() got to: the store, if it opened, and the backend (an sqld) in any case.
    after(async () => {
      try {
        await store?.close();
      } finally {
        await backend.stop();
      }
    });

    /** A write unit that inserts one settings row and answers with its key. */
    const put = (key: string, value = "v") => ({
      statements: [{ sql: "INSERT INTO settings (key, value) VALUES (?, ?) RETURNING key", args: [key, value] }],
      decode: (results: { rows: unknown[][] }[]) => String(results[0]!.rows[0]![0]),
    });

    test("many concurrent write units all land, each answered with its own result", async () => {
      const keys = Array.from({ length: 600 }, (_, i) => `many:${i}`);
      batches.length = 0;
      const answers = await Promise.all(keys.map((k) => store.write(put(k, `value ${k}`))));
      assert.deepEqual(answers, keys);
      assert.equal(await count(store, "SELECT count(*) FROM settings WHERE key LIKE 'many:%'"), 600);
      const rows = rowObjects<{ key: string; value: string }>(
        await store.driver.query({ sql: "SELECT key, value FROM settings WHERE key LIKE 'many:%'", args: [] }),
      );
      for (const row of rows) assert.equal(row.value, `value ${row.key}`);
      // Committed together, not one transaction per unit.
      assert.ok(batches.length <= 20, `${batches.length} batches for 600 units`);
      assert.equal(
        batches.reduce((n, b) => n + b.entries, 0),
        600,
      );
    });

    test("a unit of several statements answers with all its results", async () => {
      const answer = await store.write({
        statements: [
          { sql: "INSERT INTO settings (key, value) VALUES ('multi:a', '1') RETURNING key", args: [] },
          { sql: "INSERT INTO settings (key, value) VALUES ('multi:b', '2') RETURNING key", args: [] },
          { sql: "SELECT count(*) FROM settings WHERE key LIKE 'multi:%'", args: [] },
        ],
        decode: (results) => results.map((r) => r.rows[0]![0]),
      });
      assert.deepEqual(answer.map(String), ["multi:a", "multi:b", "2"]);
    });

    test("invalid SQL in one unit: that unit is rejected alone, the others of the same batch commit", async () => {
      const good = Array.from({ length: 20 }, (_, i) => `badsql-ok:${i}`);
      // All queued in the same turn of the event loop: one batch.
      batches.length = 0;
      const promises = [
        ...good.slice(0, 10).map((k) => store.write(put(k))),
        store.write({ statements: [{ sql: "INSERT INTO no_such_table (x) VALUES (1)", args: [] }], decode: () => "should not happen" }),
        ...good.slice(10).map((k) => store.write(put(k))),
      ];
      const settled = await Promise.allSettled(promises);
      const rejected = settled.filter((r) => r.status === "rejected");
      assert.equal(rejected.length, 1, JSON.stringify(settled.map((r) => r.status)));
      assert.equal(settled[10]!.status, "rejected");
      const reason = (settled[10] as PromiseRejectedResult).reason as Error;
      assert.ok(reason instanceof StoreQueryError, `a query error, not ${reason?.name}: ${reason?.message}`);
      assert.match(reason.message, /no_such_table/);
      const fulfilled = settled.filter((r): r is PromiseFulfilledResult<string> => r.status === "fulfilled").map((r) => r.value);
      assert.deepEqual(fulfilled, good);
      assert.equal(await count(store, "SELECT count(*) FROM settings WHERE key LIKE 'badsql-ok:%'"), 20);
      // They did share a batch: the first attempt held all 21 units and failed.
      assert.deepEqual(batches[0], { entries: 21, ok: false });
    });

    test("a constraint violation in one unit: rejected alone, the rest of the batch commits", async () => {
      await store.write(put("taken"));
      const promises = [
        store.write(put("constraint:1")),
        store.write(put("taken")), // primary key already used
        store.write(put("constraint:2")),
        store.write(put("constraint:3")),
      ];
      const settled = await Promise.allSettled(promises);
      assert.deepEqual(
        settled.map((r) => r.status),
        ["fulfilled", "rejected", "fulfilled", "fulfilled"],
      );
      const reason = (settled[1] as PromiseRejectedResult).reason as Error;
      assert.ok(reason instanceof StoreQueryError, `${reason?.name}: ${reason?.message}`);
      assert.match(reason.message, /UNIQUE|constraint/i);
      assert.equal(await count(store, "SELECT count(*) FROM settings WHERE key LIKE 'constraint:%'"), 3);
      assert.equal(await count(store, "SELECT count(*) FROM settings WHERE key = 'taken'"), 1);
    });

    test("two units colliding with each other in one batch: the first lands, the second is refused", async () => {
      const settled = await Promise.allSettled([store.write(put("twin", "first")), store.write(put("twin", "second")), store.write(put("twin:other"))]);
      assert.deepEqual(
        settled.map((r) => r.status),
        ["fulfilled", "rejected", "fulfilled"],
      );
      const rows = rowObjects<{ value: string }>(await store.driver.query({ sql: "SELECT value FROM settings WHERE key = 'twin'", args: [] }));
      assert.deepEqual(rows, [{ value: "first" }]);
    });

    test("a failing unit leaves none of its statements behind (all or nothing)", async () => {
      const settled = await Promise.allSettled([
        store.write(put("atomic:neighbour")),
        store.write({
          statements: [
            { sql: "INSERT INTO settings (key, value) VALUES ('atomic:first-half', 'x')", args: [] },
            { sql: "INSERT INTO settings (key, value) VALUES ('taken', 'dup')", args: [] },
          ],
          decode: () => "no",
        }),
      ]);
      assert.deepEqual(
        settled.map((r) => r.status),
        ["fulfilled", "rejected"],
      );
      assert.equal(await count(store, "SELECT count(*) FROM settings WHERE key = 'atomic:first-half'"), 0);
      assert.equal(await count(store, "SELECT count(*) FROM settings WHERE key = 'atomic:neighbour'"), 1);
    });

    test("a decode that throws rejects its own unit only", async () => {
      const settled = await Promise.allSettled([
        store.write({
          statements: put("decode:throws").statements,
          decode: () => {
            throw new Error("decoder bug");
          },
        }),
        store.write(put("decode:fine")),
      ]);
      assert.equal(settled[0]!.status, "rejected");
      assert.equal(((settled[0] as PromiseRejectedResult).reason as Error).message, "decoder bug");
      assert.equal(settled[1]!.status, "fulfilled");
      assert.equal((settled[1] as PromiseFulfilledResult<string>).value, "decode:fine");
      assert.equal(await count(store, "SELECT count(*) FROM settings WHERE key = 'decode:fine'"), 1);
    });

    test("several failing units among many good ones: each bad one refused, every good one lands", async () => {
      const promises: Promise<string>[] = [];
      const expected: string[] = [];
      for (let i = 0; i < 100; i++) {
        if (i % 25 === 7) promises.push(store.write({ statements: [{ sql: "THIS IS NOT SQL", args: [] }], decode: () => "bad" }));
        else {
          promises.push(store.write(put(`mixed:${i}`)));
          expected.push(`mixed:${i}`);
        }
      }
      const settled = await Promise.allSettled(promises);
      assert.equal(settled.filter((r) => r.status === "rejected").length, 4);
      for (const r of settled.filter((x) => x.status === "rejected")) assert.ok((r as PromiseRejectedResult).reason instanceof StoreQueryError);
      assert.deepEqual(
        settled.filter((r): r is PromiseFulfilledResult<string> => r.status === "fulfilled").map((r) => r.value),
        expected,
      );
      assert.equal(await count(store, "SELECT count(*) FROM settings WHERE key LIKE 'mixed:%'"), 96);
    });

    test("writes from two stores on the same store all land", async () => {
      const other = await openStore(target);
      try {
        const a = Array.from({ length: 50 }, (_, i) => store.write(put(`two:a:${i}`)));
        const b = Array.from({ length: 50 }, (_, i) => other.write(put(`two:b:${i}`)));
        await Promise.all([...a, ...b]);
        assert.equal(await count(store, "SELECT count(*) FROM settings WHERE key LIKE 'two:%'"), 100);
      } finally {
        await other.close();
      }
    });

    test("close() waits for queued writes", async () => {
      const s2 = await openStore(target);
      const pending = Array.from({ length: 30 }, (_, i) => s2.write(put(`close:${i}`)));
      await s2.close();
      await Promise.all(pending);
      const s3 = await openStore(target);
      try {
        assert.equal(await count(s3, "SELECT count(*) FROM settings WHERE key LIKE 'close:%'"), 30);
      } finally {
        await s3.close();
      }
    });
  });

// ---------------------------------------------------------------------------
describe("sqld over a WebSocket: the connection's life", () => {
  let sqld: Sqld;
  before(async () => {
    sqld = await startSqld();
  });
  after(() => sqld?.stop());

  test("a token in a libsql:// URL (?authToken=) is used when none is given apart", async () => {
    const url = `${sqld.wsUrl.replace(/^ws:/, "libsql:")}?tls=0&authToken=${sqld.token}`;
    const store = await openStore({ url });
    try {
      assert.equal(await count(store, "SELECT 1"), 1);
    } finally {
      await store.close();
    }
  });

  test("after close(), a call is refused as unavailable, not sent over a new connection", async () => {
    const store = await openStore({ url: sqld.wsUrl, authToken: sqld.token });
    assert.equal(await count(store, "SELECT 1"), 1);
    await store.close();
    await assert.rejects(store.driver.query({ sql: "SELECT 1", args: [] }), (error: Error) => error instanceof StoreUnavailableError);
  });
});

describe("sqld over a WebSocket that goes silent", () => {
  /** A TCP relay to sqld that can freeze the connections it has (no data, no close), as a dropped network path does. */
  function relay(port: number) {
    const sockets: Socket[] = [];
    const server = createServer((client) => {
      const upstream = connect(port, "127.0.0.1");
      client.pipe(upstream).pipe(client);
      sockets.push(client, upstream);
      client.on("error", () => {});
      upstream.on("error", () => {});
    });
    return {
      listen: () => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port))),
      freeze: () => {
        for (const socket of sockets.splice(0)) {
          socket.unpipe();
          socket.pause();
        }
      },
      close: () => {
        for (const socket of sockets) socket.destroy();
        server.close();
      },
    };
  }

  test("a call that times out gives a 503-class error, and the next call gets a new connection", async () => {
    const sqld = await startSqld();
    const proxy = relay(Number(new URL(sqld.url).port));
    let store: Store | undefined;
    try {
      const port = await proxy.listen();
      store = await openStore({ url: `ws://127.0.0.1:${port}`, authToken: sqld.token, timeoutMs: 1_000 });
      await migrate(store.driver);
      const open = store;
      const put = (key: string) => open.write({ statements: [{ sql: "INSERT INTO settings (key, value) VALUES (?, 'v')", args: [key] }], decode: () => key });
      assert.equal(await put("before"), "before");
      proxy.freeze();
      await assert.rejects(put("frozen"), (error: Error) => error instanceof StoreUnavailableError && error.reason === "timeout");
      assert.equal(await put("after"), "after", "a new connection, not the silent one");
      assert.equal(await count(store, "SELECT count(*) FROM settings WHERE key IN ('before', 'after')"), 2);
    } finally {
      await store?.close();
      proxy.close();
      await sqld.stop();
    }
  });
});
