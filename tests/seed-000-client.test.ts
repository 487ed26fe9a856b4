// A client generated from seed 000's own OpenAPI document calls its server
// URL joined with its path: `//localhost:8080/api/v1` + `/api/sso`. ssod
// serves the nonce endpoint there too, and documents it as an alias.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { openTestServer, type TestServer } from "./helpers/runtime";

const SEED = readFileSync(fileURLToPath(new URL("../../shared/seeds/000_2ca798b62f3ab034.txt", import.meta.url)), "utf8");

let s: TestServer;
before(async () => {
  s = await openTestServer();
});
after(() => s.close());

test("the URL a generated client builds from the seed's `servers` and path answers the seed's 200", async () => {
  const server = /^servers:\n\s+- url: (\S+)$/m.exec(SEED)?.[1];
  const path = /^paths:\n\s+(\/\S+):$/m.exec(SEED)?.[1];
  assert.equal(server, "//localhost:8080/api/v1");
  assert.equal(path, "/api/sso");
  // How an OpenAPI generator joins them: the server URL's path, then the operation's.
  const generated = `${new URL(server!, "http://localhost").pathname}${path}`;
  assert.equal(generated, "/api/v1/api/sso");
  const r = await s.request("POST", generated, {
    json: { emailAddress: "generated@example.com", forSection: "dashboard" },
    headers: { authorization: s.adminKey },
  });
  assert.equal(r.status, 200, await r.clone().text());
  const body = (await r.json()) as { Status: string; Message: string; Meta: string };
  assert.deepEqual([body.Status, body.Message], ["OK", "SSO Nonce created"]);
  const spec = (await (await s.request("GET", "/openapi.json")).json()) as { paths: Record<string, { post: { summary: string; "x-alias-of"?: string } }> };
  assert.equal(spec.paths[generated]?.post["x-alias-of"], "/api/sso");
  assert.match(spec.paths[generated]!.post.summary, /\(alias\)/);
  assert.equal(spec.paths["/api/sso"]?.post["x-alias-of"], undefined, "the seed's own path is the operation, not an alias");
});
