// A libSQL server (sqld, Turso) over one WebSocket, with Hrana streams that
// stay open. @libsql/client opens, uses and closes a stream for every call:
// three requests each, and on sqld a server-side connection set up and torn
// down every time. For one keyed SELECT that cost sqld 520–610 µs of CPU and
// the client 170–360 µs, against 120–140 µs and 50–75 µs on a stream kept open
// (measured here, same session). So: one stream for writes (group commits
// arrive in order, and sqld runs them back to back without a round trip in
// between) and a few for reads; when the connection drops, the next call opens
// a new one. A connection is also replaced after a minute (as @libsql/client
// does) and after a call to it timed out (reset()), so one that a network path
// dropped without a word is not used again.
import * as hrana from "@libsql/hrana-client";
import { type Driver, fromLibsql, type Result, type Statement } from "./driver";
import { classifyStoreError, StoreUnavailableError } from "./errors";

/** Reads run on these in turn, so one slow read does not hold up the lookups behind it. */
const READ_STREAMS = 4;
const MAX_LINK_AGE_MS = 60_000;
/** How long a replaced connection may finish the calls it has before it is closed anyway. */
const RETIRE_GRACE_MS = 30_000;

interface Link {
  client: hrana.WsClient;
  writer: hrana.Stream;
  readers: hrana.Stream[];
  nextReader: number;
  /** performance.now() when it was opened. */
  openedAt: number;
  /** Calls not yet answered: a replaced link is closed once it has none. */
  pending: number;
  replaced: boolean;
}

function openLink(url: string, authToken: string | undefined): Link {
  const client = hrana.openWs(url, authToken);
  return {
    client,
    writer: client.openStream(),
    readers: Array.from({ length: READ_STREAMS }, () => client.openStream()),
    nextReader: 0,
    openedAt: performance.now(),
    pending: 0,
    replaced: false,
  };
}

/** A code for classifyStoreError. A closed stream or connection is unreachable, whatever closed it, unless credentials did. */
function hranaCode(error: unknown): string | undefined {
  if (error instanceof hrana.ResponseError) return error.code;
  if (error instanceof hrana.ClosedError) {
    const cause = hranaCode(error.cause);
    return cause?.startsWith("AUTH_") ? cause : "HRANA_CLOSED_ERROR";
  }
  if (error instanceof hrana.WebSocketError) return "HRANA_WEBSOCKET_ERROR";
  if (error instanceof hrana.ProtoError) return "HRANA_PROTO_ERROR";
  return undefined;
}

function storeError(error: unknown) {
  const code = hranaCode(error);
  return classifyStoreError(code && error instanceof Error ? Object.assign(error, { code }) : error);
}

const resultOf = (rows: hrana.RowsResult): Result =>
  fromLibsql({ columns: rows.columnNames.map((c) => c ?? ""), rows: rows.rows, rowsAffected: rows.affectedRowCount });

const stmt = (s: Statement): hrana.InStmt => [s.sql, s.args];

/**
 * Runs the statements in one transaction, in one round trip: each step runs
 * only if the one before it succeeded, and a failed commit is rolled back.
 * `around` runs before and after the transaction (a migration's pragmas); the
 * transaction begins only if the first succeeded.
 */
async function transaction(stream: hrana.Stream, begin: string, statements: Statement[], around?: [string, string]): Promise<Result[]> {
  const batch = stream.batch(false);
  const before = around ? batch.step() : undefined;
  const prepared = before?.run(around![0]);
  const beginStep = batch.step();
  if (before) beginStep.condition(hrana.BatchCond.ok(before));
  const began = beginStep.run(begin);
  let last = beginStep;
  const results = statements.map((s) => {
    const step = batch.step().condition(hrana.BatchCond.ok(last));
    last = step;
    return step.query(stmt(s));
  });
  const commitStep = batch.step().condition(hrana.BatchCond.ok(last));
  const committed = commitStep.run("COMMIT");
  const ignored = [
    batch
      .step()
      .condition(hrana.BatchCond.not(hrana.BatchCond.ok(commitStep)))
      .run("ROLLBACK"),
  ];
  if (around) ignored.push(batch.step().run(around[1]));
  for (const step of ignored) step.catch(() => undefined);
  // Every step's promise settles with the batch; the first failure is the one to report.
  const settled = Promise.allSettled([...(prepared ? [prepared] : []), began, ...results, committed]);
  try {
    await batch.execute();
  } catch (error) {
    // The batch as a whole failed: what ran of it, and the stream's state, are unknown.
    stream.close();
    throw error;
  }
  const outcomes = await settled;
  const failed = outcomes.find((o) => o.status === "rejected");
  if (failed) throw failed.reason;
  return outcomes.slice(prepared ? 2 : 1, -1).map((o) => {
    const rows = (o as PromiseFulfilledResult<hrana.RowsResult | undefined>).value;
    if (!rows) throw new Error("a statement of the batch did not run");
    return resultOf(rows);
  });
}

/** `url` is a ws(s):// or libsql:// URL (remoteTransport); a token in it (`?authToken=`) is used when none is given. */
export function openHranaWsDriver(url: string, authToken: string | undefined): Driver {
  const parsed = hrana.parseLibsqlUrl(url);
  const target = parsed.hranaWsUrl!;
  const token = authToken ?? parsed.authToken;
  let link: Link | undefined;
  /** Replaced connections still finishing their calls. */
  const retired = new Set<Link>();
  let closed = false;

  const shut = (l: Link) => {
    retired.delete(l);
    l.client.close();
  };
  // New calls go to a new connection; this one finishes what it has (30 s at most), then closes.
  const retire = (l: Link) => {
    if (l.replaced) return;
    l.replaced = true;
    if (l.pending === 0) return shut(l);
    retired.add(l);
    setTimeout(() => shut(l), RETIRE_GRACE_MS).unref();
  };
  const live = (): Link => {
    if (closed) throw new StoreUnavailableError("the store is closed", "unreachable");
    if (link && !link.client.closed && performance.now() - link.openedAt < MAX_LINK_AGE_MS) return link;
    if (link) retire(link);
    link = openLink(target, token);
    return link;
  };
  // A stream that failed may be left mid-transaction: the next call gets a fresh one.
  const writerOf = (l: Link): hrana.Stream => {
    if (l.writer.closed) l.writer = l.client.openStream();
    return l.writer;
  };
  const readerOf = (l: Link): hrana.Stream => {
    const i = l.nextReader++ % READ_STREAMS;
    if (l.readers[i]!.closed) l.readers[i] = l.client.openStream();
    return l.readers[i]!;
  };
  const call = async <T>(pick: (l: Link) => hrana.Stream, work: (s: hrana.Stream) => Promise<T>): Promise<T> => {
    const l = live();
    const stream = pick(l);
    l.pending++;
    try {
      return await work(stream);
    } catch (error) {
      // A ResponseError is the statement's; anything else leaves the stream in doubt.
      if (!(error instanceof hrana.ResponseError)) stream.close();
      throw storeError(error);
    } finally {
      if (--l.pending === 0 && l.replaced) shut(l);
    }
  };

  return {
    kind: "remote",
    query: (s) => call(readerOf, async (r) => resultOf(await r.query(stmt(s)))),
    execute: (s) => call(writerOf, async (w) => resultOf(await w.query(stmt(s)))),
    batch: (statements, mode) =>
      mode === "write"
        ? call(writerOf, (w) => transaction(w, "BEGIN IMMEDIATE", statements))
        : call(readerOf, (r) => transaction(r, "BEGIN TRANSACTION READONLY", statements)),
    migrate: (statements) => call(writerOf, (w) => transaction(w, "BEGIN DEFERRED", statements, ["PRAGMA foreign_keys=off", "PRAGMA foreign_keys=on"])),
    reset: (since) => {
      // Only the connection the timed-out call went to: one opened since is not suspect.
      if (link && link.openedAt <= since) {
        retire(link);
        link = undefined;
      }
    },
    close: async () => {
      closed = true;
      for (const l of [...retired, ...(link ? [link] : [])]) shut(l);
    },
  };
}
