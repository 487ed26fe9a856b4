// SQL migrations from drizzle-kit (drizzle/), applied at start under a lock
// kept in the store itself, so that several processes starting together on
// one store (a file, or a sqld with no file lock to share) apply each
// migration exactly once while the others wait for them.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { type EmbeddedMigration, embedded } from "../embedded";
import type { Driver, Statement } from "./driver";

const BREAKPOINT = "--> statement-breakpoint";
const LOCK_TTL_MS = 60_000;

/** The migrations shipped with this build: embedded in dist/ssod.mjs, or read from drizzle/. */
export function bundledMigrations(): EmbeddedMigration[] {
  if (embedded.migrations) return embedded.migrations;
  return readMigrationsFolder(new URL("../../drizzle/", import.meta.url));
}

export function readMigrationsFolder(folder: URL): EmbeddedMigration[] {
  const journal = JSON.parse(readFileSync(new URL("meta/_journal.json", folder), "utf8")) as { entries: { tag: string }[] };
  return journal.entries.map(({ tag }) => ({ tag, sql: readFileSync(new URL(`${tag}.sql`, folder), "utf8") }));
}

function statementsOf(sql: string): string[] {
  return sql
    .split(BREAKPOINT)
    .map((s) => s.trim())
    .filter((s) => s.replace(/--[^\n]*/g, "").trim().length > 0);
}

const bootstrapTables: Statement[] = [
  { sql: "CREATE TABLE IF NOT EXISTS ssod_migrations (tag TEXT PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)", args: [] },
  {
    sql: "CREATE TABLE IF NOT EXISTS ssod_locks (name TEXT PRIMARY KEY NOT NULL, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)",
    args: [],
  },
];

async function appliedTags(driver: Driver): Promise<Set<string>> {
  const result = await driver.query({ sql: "SELECT tag FROM ssod_migrations", args: [] });
  return new Set(result.rows.map((r) => String(r[0])));
}

/** Takes the named lock if it is free or its holder's lease has run out. */
async function tryLock(driver: Driver, name: string, owner: string): Promise<boolean> {
  const now = Date.now();
  const result = await driver.execute({
    sql: `INSERT INTO ssod_locks (name, owner, expires_at) VALUES (?, ?, ?)
          ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
          WHERE ssod_locks.expires_at < ?
          RETURNING owner`,
    args: [name, owner, now + LOCK_TTL_MS, now],
  });
  return result.rows.length === 1 && result.rows[0]![0] === owner;
}

export interface MigrationReport {
  /** Tags this process applied (empty when another process did, or nothing was pending). */
  applied: string[];
  total: number;
}

export async function migrate(
  driver: Driver,
  migrations: EmbeddedMigration[] = bundledMigrations(),
  options: { waitMs?: number } = {},
): Promise<MigrationReport> {
  await driver.batch(bootstrapTables, "write");
  const owner = randomUUID();
  const deadline = Date.now() + (options.waitMs ?? LOCK_TTL_MS + 5_000);
  for (;;) {
    let done = await appliedTags(driver);
    let pending = migrations.filter((m) => !done.has(m.tag));
    if (pending.length === 0) return { applied: [], total: migrations.length };
    if (await tryLock(driver, "migrate", owner)) {
      try {
        // Another process may have finished between our read and our lock.
        done = await appliedTags(driver);
        pending = migrations.filter((m) => !done.has(m.tag));
        for (const m of pending) {
          const statements: Statement[] = statementsOf(m.sql).map((sql) => ({ sql, args: [] }));
          statements.push({ sql: "INSERT INTO ssod_migrations (tag, applied_at) VALUES (?, ?)", args: [m.tag, Date.now()] });
          // One transaction per migration: it lands whole or not at all.
          await driver.migrate(statements);
        }
        return { applied: pending.map((m) => m.tag), total: migrations.length };
      } finally {
        await driver.execute({ sql: "DELETE FROM ssod_locks WHERE name = ? AND owner = ?", args: ["migrate", owner] });
      }
    }
    if (Date.now() > deadline) throw new Error("timed out waiting for another process to finish the migrations");
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
  }
}

/** True when every bundled migration has been applied (readiness). */
export async function migrationsApplied(driver: Driver, migrations = bundledMigrations()): Promise<boolean> {
  try {
    const done = await appliedTags(driver);
    return migrations.every((m) => done.has(m.tag));
  } catch {
    return false;
  }
}
