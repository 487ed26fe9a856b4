// The second reference of `npm run bench` (issue 19): the least a durable
// token server can do, with no framework. node:http and JSON.parse; a
// constant-time SHA-256 check of the caller's Authorization header; 32 random
// bytes from a pool; the token stored as its SHA-256. Every request of an
// event-loop turn goes into one libsql transaction (WAL, synchronous=FULL),
// committed on the main thread, and each request is answered after the
// commit that holds it. Issue writes a token row and an audit row; redeem
// consumes with one conditional UPDATE … RETURNING, upserts the user, opens a
// session and writes an audit row. A file of the bench, not of the product.
//
//   DB=/tmp/x.db AUTH='Basic …' node scripts/bench/minimal-durable.mjs
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import Database from "libsql";

const db = new Database(process.env.DB ?? "minimal.db");
db.exec("PRAGMA journal_mode = WAL");
db.exec("PRAGMA synchronous = FULL");
db.exec(`
  CREATE TABLE IF NOT EXISTS tokens (id INTEGER PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE, ref_no TEXT NOT NULL,
    email TEXT NOT NULL, display_name TEXT, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, consumed_at INTEGER);
  CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, display_name TEXT, last_login_at INTEGER);
  CREATE TABLE IF NOT EXISTS sessions (id_hash BLOB PRIMARY KEY, user_id INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, action TEXT NOT NULL, target TEXT, ip TEXT);
`);

const sha256 = (data) => createHash("sha256").update(data).digest();
const expected = sha256(process.env.AUTH ?? "");
const authorized = (header) => header !== undefined && timingSafeEqual(sha256(header), expected);

let pool = randomBytes(0);
function random32() {
  if (pool.length < 32) pool = randomBytes(32 * 512);
  const bytes = pool.subarray(0, 32);
  pool = pool.subarray(32);
  return bytes;
}

const insertToken = db.prepare("INSERT INTO tokens (token_hash, ref_no, email, display_name, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)");
const insertAudit = db.prepare("INSERT INTO audit (at, action, target, ip) VALUES (?, ?, ?, ?)");
const consume = db.prepare(
  "UPDATE tokens SET consumed_at = ? WHERE token_hash = ? AND consumed_at IS NULL AND expires_at > ? RETURNING ref_no, email, display_name",
);
const upsertUser = db.prepare(
  "INSERT INTO users (email, display_name, last_login_at) VALUES (?, ?, ?) ON CONFLICT (email) DO UPDATE SET display_name = excluded.display_name, last_login_at = excluded.last_login_at RETURNING id",
);
const insertSession = db.prepare("INSERT INTO sessions (id_hash, user_id, expires_at) VALUES (?, ?, ?)");

let refSequence = 0;
function issue(body, ip, now) {
  const user = body?.user;
  if (typeof user?.email !== "string") return [400, { error: "user.email is required" }];
  const token = random32().toString("base64url");
  const refNo = `${now}${String(refSequence++ % 1e6).padStart(6, "0")}`;
  const expiresAt = now + 120_000;
  insertToken.run(sha256(token), refNo, user.email, user.displayName ?? null, now, expiresAt);
  insertAudit.run(now, "token.issue", refNo, ip);
  return [201, { token, tokenRefNo: refNo, expiresAt: new Date(expiresAt).toISOString() }];
}

function redeem(body, ip, now) {
  if (typeof body?.token !== "string") return [400, { error: "token is required" }];
  const row = consume.get(now, sha256(body.token), now);
  if (!row) return [400, { error: "Invalid or expired token" }];
  const { id } = upsertUser.get(row.email, row.display_name, now);
  const session = random32().toString("base64url");
  const expiresAt = now + 8 * 3600_000;
  insertSession.run(sha256(session), id, expiresAt);
  insertAudit.run(now, "token.redeem", row.ref_no, ip);
  return [
    200,
    {
      tokenRefNo: row.ref_no,
      user: { id, email: row.email, displayName: row.display_name },
      session: { id: session, expiresAt: new Date(expiresAt).toISOString() },
    },
  ];
}

const routes = { "/v1/tokens": issue, "/v1/tokens/redeem": redeem };

// The requests of this turn, answered after their commit.
let pending = [];
function commitTurn() {
  const jobs = pending;
  pending = [];
  const now = Date.now();
  const answers = [];
  db.exec("BEGIN");
  for (const job of jobs) {
    try {
      answers.push(job.handler(job.body, job.ip, now));
    } catch {
      answers.push([400, { error: "bad request" }]);
    }
  }
  db.exec("COMMIT");
  for (let i = 0; i < jobs.length; i++) {
    const [status, json] = answers[i];
    const text = JSON.stringify(json);
    jobs[i].res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
  }
}

const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/healthz") return res.writeHead(200).end("ok");
  const handler = req.method === "POST" ? routes[req.url] : undefined;
  if (!handler) return res.writeHead(404).end();
  if (!authorized(req.headers.authorization)) return res.writeHead(401).end();
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return res.writeHead(400).end();
    }
    if (pending.length === 0) setImmediate(commitTurn);
    pending.push({ handler, body, ip: req.socket.remoteAddress ?? null, res });
  });
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ msg: "ssod listening", url: `http://127.0.0.1:${server.address().port}` })}\n`);
});
