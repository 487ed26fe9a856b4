// SPEC §8 at the HTTP layer of the built server: forwarded headers beyond
// the server's size limit are refused by Node with 431 before ssod judges
// anything; a header value with a raw CR or LF (what no proxy passes on)
// never gets a 200 or a 5xx. Both over a raw socket, byte for byte.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { generateAdminKey } from "../src/core/admin-keys";
import { forwardAuthWorld, overHttp, type SignedIn } from "./helpers/forward-auth";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { rawRequest } from "./helpers/proxies";

let ssod: ServerProcess | undefined;
let port: number;
let alice: SignedIn;

before(async () => {
  const adminKey = generateAdminKey();
  ssod = await startBuiltServer({ env: { SSOD_ADMIN_API_KEY: adminKey, SSOD_LOGIN_URL: "http://portal.fa.test/start" } });
  port = Number(new URL(ssod.url).port);
  const world = await forwardAuthWorld(overHttp(ssod.url), adminKey);
  alice = await world.signIn({ email: "alice@example.com", groups: ["staff"] });
});
after(() => stopAll([ssod]));

const forwarded = (uri = "/"): [string, string][] => [
  ["Host", "127.0.0.1"],
  ["X-Forwarded-Method", "GET"],
  ["X-Forwarded-Proto", "http"],
  ["X-Forwarded-Host", "app.fa.test"],
  ["X-Forwarded-Uri", uri],
];
const decide = (headers: [string, string][]) => rawRequest(port, { target: "/v1/forward-auth", headers });

describe("headers over the server's limit", () => {
  test("the request passes at 10 KB of headers, and 21 KB gets Node's 431", async () => {
    const within = await decide([...forwarded(), ["Cookie", alice.cookie], ["X-Pad", "p".repeat(10_000)]]);
    assert.equal(within.status, 200, "a big request that fits is judged as usual");
    const over = await decide([
      ...forwarded(),
      ["Cookie", alice.cookie],
      ["X-Pad-1", "p".repeat(7_000)],
      ["X-Pad-2", "p".repeat(7_000)],
      ["X-Pad-3", "p".repeat(7_000)],
    ]);
    assert.equal(over.status, 431);
    assert.equal(over.header("remote-user"), undefined);
  });
});

/** Stands for alice's session cookie in cases written before she signs in. */
const SESSION: [string, string] = ["Cookie", "(alice's session)"];

describe("CR and LF inside forwarded headers", () => {
  const cases: [string, [string, string][]][] = [
    ["a CR in X-Forwarded-Uri", [...forwarded("/a\rSet-Cookie: x=1"), SESSION]],
    ["a CR LF in X-Forwarded-Uri (a header of its own follows)", [...forwarded("/a\r\nX-Forwarded-Host: evil.fa.test"), SESSION]],
    ["a bare LF in X-Forwarded-Host", [...forwarded().filter(([k]) => k !== "X-Forwarded-Host"), ["X-Forwarded-Host", "app.fa.test\nX-Evil: 1"], SESSION]],
    [
      "an obsolete line fold in X-Forwarded-Host",
      [...forwarded().filter(([k]) => k !== "X-Forwarded-Host"), ["X-Forwarded-Host", "nothing.fa.test\r\n app.fa.test"], SESSION],
    ],
    ["a NUL in X-Original-URL", [["Host", "127.0.0.1"], ["X-Original-URL", "http://app.fa.test/\0x"], ["X-Original-Method", "GET"], SESSION]],
  ];
  for (const [name, headers] of cases) {
    test(`${name}: never a 200, never a 5xx`, async () => {
      const r = await decide(headers.map((h) => (h === SESSION ? ["Cookie", alice.cookie] : h)));
      assert.ok(r.status >= 400 && r.status < 500, `${name} → ${r.status}`);
      assert.equal(r.header("remote-user"), undefined);
    });
  }

  test("the same request without the CR is let through (the cases above are refused for the CR alone)", async () => {
    assert.equal((await decide([...forwarded("/aSet-Cookie:x=1"), ["Cookie", alice.cookie]])).status, 200);
  });
});
