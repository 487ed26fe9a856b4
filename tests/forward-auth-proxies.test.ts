// SPEC §8 through real proxies: Debian's nginx (auth_request) and Caddy
// (forward_auth), configured exactly as the README says (tests/helpers/
// proxies.ts writes both), in front of an app that echoes what it receives,
// asking the built dist/ssod.mjs. Through each: no session never reaches the
// app; a user inside the rule reaches it with the right Remote-* headers and
// no client-sent ones; outside the rule, an unprotected host, client-sent
// forwarding headers, an absolute request line, a logged-out session: refused.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { generateAdminKey } from "../src/core/admin-keys";
import { ALICE, BOB, type ForwardAuthWorld, forwardAuthWorld, overHttp, type SignedIn } from "./helpers/forward-auth";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { caddySite, type Echo, nginxSite, type RawAnswer, type ReverseProxy, rawRequest, startCaddy, startEcho, startNginx } from "./helpers/proxies";

const PORTAL = "http://portal.fa.test/start";
const SPOOF: [string, string][] = [
  ["Remote-User", "admin"],
  ["Remote-Email", "admin@evil.test"],
  ["Remote-Name", "Admin"],
  ["Remote-Groups", "admins"],
  ["Remote-Org", "evil"],
  ["Remote-User-Id", "0"],
  ["REMOTE-USER", "admin"],
  ["remote_user", "admin"],
  ["Remote_Groups", "admins"],
  ["REMOTE_EMAIL", "admin@evil.test"],
];

let ssod: ServerProcess | undefined;
let echo: Echo | undefined;
let nginx: ReverseProxy | undefined;
let caddy: ReverseProxy | undefined;
let world: ForwardAuthWorld;
let alice: SignedIn;
let bob: SignedIn;

before(async () => {
  echo = await startEcho();
  const adminKey = generateAdminKey();
  ssod = await startBuiltServer({ env: { SSOD_ADMIN_API_KEY: adminKey, SSOD_LOGIN_URL: PORTAL } });
  world = await forwardAuthWorld(overHttp(ssod.url), adminKey);
  alice = await world.signIn(ALICE);
  bob = await world.signIn(BOB);
  const sites = { ssod: new URL(ssod.url).host, upstream: `127.0.0.1:${echo.port}` };
  [nginx, caddy] = await Promise.all([startNginx(sites), startCaddy(sites)]);
});

after(async () => {
  await Promise.all([nginx?.stop(), caddy?.stop()]);
  await stopAll([ssod]);
  await echo?.close();
});

interface Through {
  answer: RawAnswer;
  /** What the app received, when the request reached it. */
  upstream: { method: string; url: string; rawHeaders: string[]; body: string } | undefined;
}

/** A request through a proxy, for `host` (with the proxy's port, as a browser sends it); and what the app saw. */
async function through(
  proxy: ReverseProxy,
  o: { host?: string | null; target?: string; headers?: [string, string][]; method?: string; body?: string; version?: "1.0" | "1.1" },
): Promise<Through> {
  const seen = echo!.seen.length;
  const host = o.host === undefined ? `app.fa.test:${proxy.port}` : o.host;
  const answer = await rawRequest(proxy.port, {
    method: o.method ?? "GET",
    target: o.target ?? "/",
    headers: [...(host === null ? [] : ([["Host", host]] as [string, string][])), ...(o.headers ?? [])],
    ...(o.body === undefined ? {} : { body: o.body }),
    ...(o.version ? { version: o.version } : {}),
  });
  assert.ok(echo!.seen.length - seen <= 1);
  return { answer, upstream: echo!.seen.length > seen ? echo!.seen.at(-1) : undefined };
}

/** Every identity-like header the app received (any case, - or _), as sent. */
function identityHeaders(upstream: Through["upstream"]): [string, string][] {
  const raw = upstream?.rawHeaders ?? [];
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) if (/^remote[-_]/i.test(raw[i]!)) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

const one = (upstream: Through["upstream"], name: string) =>
  identityHeaders(upstream)
    .filter(([k]) => k.toLowerCase() === name.toLowerCase())
    .map(([, v]) => v);

const cookie = (s: SignedIn): [string, string] => ["Cookie", s.cookie];
const loginFor = (url: string) => `${PORTAL}?return_to=${encodeURIComponent(url)}`;

for (const [name, proxy] of [
  ["nginx (auth_request)", () => nginx!],
  ["Caddy (forward_auth)", () => caddy!],
] as const) {
  describe(`through ${name}`, () => {
    test("no session: never the app; a browser goes to the portal with return_to the page (encoded), an API client gets 401", async () => {
      const p = proxy();
      const page = `http://app.fa.test:${p.port}/p/x?a=1&b=2`;
      const browser = await through(p, { target: "/p/x?a=1&b=2", headers: [["Accept", "text/html"]] });
      assert.equal(browser.upstream, undefined);
      assert.equal(browser.answer.status, 302, browser.answer.body);
      assert.equal(browser.answer.header("location"), loginFor(page));
      const api = await through(p, { target: "/p/x", headers: [["Accept", "application/json"]] });
      assert.equal(api.upstream, undefined);
      assert.equal(api.answer.status, 401);
      const stranger = await through(p, { target: "/", headers: [["Cookie", `ssod_session=${"x".repeat(43)}`]] });
      assert.equal(stranger.upstream, undefined);
      assert.equal(stranger.answer.status, 302);
    });

    test("a user inside the rule: the app gets the request and the user's Remote-* headers", async () => {
      const { answer, upstream } = await through(proxy(), { target: "/docs?q=1", headers: [cookie(alice)] });
      assert.equal(answer.status, 200, answer.body);
      assert.equal(upstream?.url, "/docs?q=1");
      assert.deepEqual(one(upstream, "Remote-User"), ["CII-0001"]);
      assert.deepEqual(one(upstream, "Remote-Email"), ["alice@example.com"]);
      assert.deepEqual(one(upstream, "Remote-Name"), ["Alice Liddell"]);
      assert.deepEqual(one(upstream, "Remote-Groups"), ["staff,dev%2Cops"]);
      assert.match(one(upstream, "Remote-User-Id")[0] ?? "", /^[0-9a-f-]{36}$/);
    });

    test("a long Remote-Groups (about 6 KB, more than nginx's default answer buffer) reaches the app", async () => {
      const groups = ["staff", ...Array.from({ length: 99 }, (_, i) => `department-${String(i).padStart(2, "0")}-${"x".repeat(48)}`)];
      const many = await world.signIn({ email: "many@example.com", groups });
      const { answer, upstream } = await through(proxy(), { headers: [cookie(many)] });
      assert.equal(answer.status, 200, answer.body);
      assert.deepEqual(one(upstream, "Remote-Groups"), [groups.join(",")]);
      assert.ok(groups.join(",").length > 6000);
    });

    test("a POST goes on with its body; the app sees its method", async () => {
      const { answer, upstream } = await through(proxy(), {
        method: "POST",
        target: "/form",
        headers: [cookie(alice), ["Content-Type", "text/plain"]],
        body: "hello",
      });
      assert.equal(answer.status, 200);
      assert.deepEqual([upstream?.method, upstream?.body], ["POST", "hello"]);
    });

    test("a client's own Remote-User (any case, remote_user too) never reaches the app as truth", async () => {
      const { answer, upstream } = await through(proxy(), { headers: [...SPOOF, cookie(alice)] });
      assert.equal(answer.status, 200);
      const seen = identityHeaders(upstream);
      assert.deepEqual(
        seen.filter(([, v]) => /admin|evil|^0$/.test(v)),
        [],
        `the app saw ${JSON.stringify(seen)}`,
      );
      assert.deepEqual(one(upstream, "Remote-User"), ["CII-0001"]);
    });

    test("a user without email or name: the client's values do not fill the gaps (nor Caddy's placeholder text)", async () => {
      const dave = await world.signIn({ externalId: "CII-0002", groups: ["staff"] });
      const { answer, upstream } = await through(proxy(), { headers: [...SPOOF, cookie(dave)] });
      assert.equal(answer.status, 200);
      const seen = identityHeaders(upstream);
      assert.deepEqual(one(upstream, "Remote-User"), ["CII-0002"]);
      for (const [k, v] of seen) assert.ok(!/admin|evil|\{http\./.test(v), `the app saw ${k}: ${v}`);
      // nginx sends no header for an empty value; Caddy sends it empty.
      assert.ok(["", undefined].includes(one(upstream, "Remote-Email")[0]), JSON.stringify(seen));
    });

    test("a user outside the rule: 403, never the app", async () => {
      const { answer, upstream } = await through(proxy(), { headers: [cookie(bob)] });
      assert.equal(answer.status, 403);
      assert.equal(upstream, undefined);
    });

    test("a host no app protects: 403, with or without a session", async () => {
      for (const headers of [[cookie(alice)], []]) {
        const { answer, upstream } = await through(proxy(), { host: `nothing.fa.test:${proxy().port}`, headers });
        assert.equal(answer.status, 403);
        assert.equal(upstream, undefined);
      }
    });

    test("client-sent X-Forwarded-* and X-Original-* do not change the decision", async () => {
      const p = proxy();
      const open = `a.open.fa.test:${p.port}`;
      assert.equal((await through(p, { host: open, headers: [cookie(bob)] })).answer.status, 200, "bob may use the open tools");
      const { answer, upstream } = await through(p, {
        headers: [
          cookie(bob),
          ["X-Forwarded-Host", open],
          ["X-Forwarded-Proto", "http"],
          ["X-Forwarded-Method", "GET"],
          ["X-Forwarded-Uri", "/"],
          ["X-Original-URL", `http://${open}/`],
          ["X-Original-Method", "GET"],
        ],
      });
      assert.equal(answer.status, 403, "judged as app.fa.test, where bob may not go");
      assert.equal(upstream, undefined);
    });

    test("an absolute request line naming another host than Host: the host served is the host judged", async () => {
      const p = proxy();
      const { answer, upstream } = await through(p, { target: `http://app.fa.test:${p.port}/x`, host: `a.open.fa.test:${p.port}`, headers: [cookie(bob)] });
      assert.notEqual(answer.status, 200, answer.body);
      assert.equal(upstream, undefined);
    });

    test("HTTP/1.0 without Host, a path that looks like a host: never the app", async () => {
      const { answer, upstream } = await through(proxy(), { host: null, version: "1.0", target: "/a.open.fa.test/x", headers: [cookie(bob)] });
      assert.notEqual(answer.status, 200, answer.body);
      assert.equal(upstream, undefined);
    });

    test("after logout: refused", async () => {
      const erin = await world.signIn({ email: "erin@example.com", groups: ["staff"] });
      assert.equal((await through(proxy(), { headers: [cookie(erin)] })).answer.status, 200);
      const own = await fetch(`${ssod!.url}/v1/session/logout`, { method: "POST", headers: { cookie: erin.cookie } });
      assert.equal(own.status, 204);
      const { answer, upstream } = await through(proxy(), { headers: [cookie(erin), ["Accept", "text/html"]] });
      assert.equal(answer.status, 302);
      assert.equal(upstream, undefined);
    });
  });
}

describe("the README", () => {
  const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");
  const names = { ssod: "127.0.0.1:8080", upstream: "127.0.0.1:3000" };

  test("shows the nginx server block these tests run, with its placeholder names", () => {
    const block = nginxSite({
      listen: "443 ssl",
      serverName: "app.example.com",
      tls: { certificate: "/etc/ssl/app.example.com.pem", key: "/etc/ssl/app.example.com.key" },
      ...names,
    });
    assert.ok(readme.includes(`\`\`\`nginx\n${block}\`\`\``), `README.md should hold, verbatim:\n${block}`);
  });

  test("shows the Caddyfile site these tests run, with its placeholder names", () => {
    const block = caddySite({ listen: "app.example.com", ...names });
    assert.ok(readme.includes(`\`\`\`caddyfile\n${block}\`\`\``), `README.md should hold, verbatim:\n${block}`);
  });
});
