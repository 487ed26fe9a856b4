// SPEC §5: secrets that must be read back (sources' signing secrets and the
// copy of their client secret used for HS256, apps' client secrets, signing
// keys' private halves) are encrypted at rest. tests/secrets-at-rest.test.ts
// looks for each secret's text and raw bytes; a "seal" that only encodes
// (base64, hex) would pass that search. Here every such secret is looked for
// in every common encoding at every alignment, and each sealed box must
// refuse to open under another master key: a cipher, not an encoding.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { MasterKey } from "../src/core/crypto";
import { encodings } from "./helpers/encodings";
import { openTestServer } from "./helpers/runtime";

test("signing secrets, client secret copies, apps' client secrets and private keys are in no encoding in the store's files, and open only with the master key", async () => {
  const s = await openTestServer();
  const admin = { authorization: `Bearer ${s.adminKey}` };
  const secrets = new Map<string, string>();
  try {
    for (const code of ["sealed-a", "sealed-b"]) {
      const r = await s.request("POST", "/v1/sources", { json: { code, name: code, validForSeconds: 60 }, headers: admin });
      assert.equal(r.status, 201);
      const made = (await r.json()) as { id: number; clientSecret: string; signingSecret: string };
      secrets.set(`${code} client secret`, made.clientSecret);
      secrets.set(`${code} signing secret`, made.signingSecret);
      if (code === "sealed-b") {
        const rotated = (await (await s.request("POST", `/v1/sources/${made.id}/secret`, { headers: admin })).json()) as {
          clientSecret: string;
          signingSecret: string;
        };
        secrets.set(`${code} rotated client secret`, rotated.clientSecret);
        secrets.set(`${code} rotated signing secret`, rotated.signingSecret);
      }
    }
    for (const alg of ["RS256", "ES256"]) {
      const r = await s.request("POST", "/v1/apps", {
        json: { name: `app ${alg}`, redirectUris: ["https://app.example.com/cb"], idTokenSignedResponseAlg: alg },
        headers: admin,
      });
      assert.equal(r.status, 201, await r.clone().text());
      const app = (await r.json()) as { id: number; clientSecret: string };
      secrets.set(`app ${alg} client secret`, app.clientSecret);
      const rotated = (await (await s.request("POST", `/v1/apps/${app.id}/secret`, { headers: admin })).json()) as { clientSecret: string };
      secrets.set(`app ${alg} rotated client secret`, rotated.clientSecret);
    }
    assert.equal((await s.request("POST", "/v1/keys/rotate", { headers: admin })).status, 200);
  } finally {
    await s.close();
  }

  const master = MasterKey.parse(readFileSync(join(s.dir, "master.key"), "utf8").trim());
  assert.ok(master, "the master key file beside the store");
  const stranger = new MasterKey(randomBytes(32));
  const files = ["ssod.db", "ssod.db-wal"].filter((f) => existsSync(join(s.dir, f))).map((f) => [f, readFileSync(join(s.dir, f))] as const);

  // The sealed boxes, read back with a store client of their own, and the private keys inside them.
  const { createClient } = await import("@libsql/client/sqlite3");
  const client = createClient({ url: `file:${join(s.dir, "ssod.db")}`, intMode: "number" });
  const boxes: { label: string; box: string; purpose: string }[] = [];
  try {
    for (const row of (await client.execute("SELECT code, client_secret_enc, signing_secret_enc FROM sso_sources")).rows) {
      if (row.client_secret_enc) boxes.push({ label: `source ${row.code} client secret`, box: String(row.client_secret_enc), purpose: "client_secret" });
      if (row.signing_secret_enc) boxes.push({ label: `source ${row.code} signing secret`, box: String(row.signing_secret_enc), purpose: "signing_secret" });
    }
    for (const row of (await client.execute("SELECT name, client_secret_enc FROM apps")).rows)
      boxes.push({ label: `app ${row.name} client secret`, box: String(row.client_secret_enc), purpose: "app_client_secret" });
    for (const row of (await client.execute("SELECT kid, alg, private_key_enc FROM signing_keys")).rows) {
      const label = `${row.alg} signing key ${row.kid}`;
      boxes.push({ label, box: String(row.private_key_enc), purpose: "signing_key" });
      const pem = master.open(String(row.private_key_enc), "signing_key").toString("utf8");
      assert.match(pem, /BEGIN PRIVATE KEY/, label);
      secrets.set(`${label} (PEM body)`, pem.replace(/-----[^-]+-----|\s/g, ""));
    }
  } finally {
    client.close();
  }
  assert.ok(boxes.filter((b) => b.purpose === "signing_key").length >= 3, "RS256, ES256 and the rotated keys");
  assert.ok(boxes.filter((b) => b.purpose === "app_client_secret").length === 2);

  const found: string[] = [];
  for (const [label, secret] of secrets)
    for (const needle of encodings(Buffer.from(secret, "utf8")))
      for (const [file, bytes] of files) if (bytes.includes(needle)) found.push(`${label} in ${file}`);
  assert.deepEqual([...new Set(found)], [], "a secret at rest, merely encoded");

  for (const { label, box, purpose } of boxes) {
    assert.doesNotThrow(() => master.open(box, purpose), `${label} opens with the master key`);
    assert.throws(() => stranger.open(box, purpose), `${label} opens with another key: it is not encrypted`);
  }
});
