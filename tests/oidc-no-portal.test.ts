// OpenID Connect with no portal page named (no SSOD_LOGIN_URL, SPEC §6): a
// browser without an ssod session gets the page that says to sign in through
// the portal (401) and stays at ssod; an app's own loginUrl still sends it there.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Browser, freePort, type RelyingParty, startRelyingParty } from "./helpers/oidc";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";

const ADMIN_KEY = `ssod_ak_${"n".repeat(43)}`;
let ssod: ServerProcess;
let issuer: string;
const parties: RelyingParty[] = [];

async function party(app: Record<string, unknown> = {}) {
  const rp = await startRelyingParty({
    issuer,
    auth: "basic",
    register: async (callbackUrl) => {
      const r = await fetch(`${issuer}/v1/apps`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "App", redirectUris: [callbackUrl], ...app }),
      });
      const made = (await r.json()) as { clientId: string; clientSecret: string };
      return made;
    },
  });
  parties.push(rp);
  return rp;
}

before(async () => {
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  ssod = await startBuiltServer({ env: { SSOD_PORT: String(port), SSOD_PUBLIC_URL: issuer, SSOD_ADMIN_API_KEY: ADMIN_KEY, SSOD_APP_REFRESH_MS: "0" } });
});

after(async () => {
  for (const rp of parties) await rp.close();
  await stopAll([ssod]);
});

test("no portal named: a 401 page at ssod that says to sign in through the portal", async () => {
  const done = await new Browser().navigate((await party()).loginUrl());
  assert.equal(done.response.status, 401);
  assert.match(done.url, new RegExp(`^${issuer}/oidc/interaction/`));
  assert.match(done.response.headers.get("content-type") ?? "", /text\/html/);
  assert.match(done.body, /Sign in through your portal/);
});

test("an app's own loginUrl sends the browser there, with return_to the pending sign-in", async () => {
  const rp = await party({ loginUrl: "https://portal.example.com/start?app=wiki" });
  const done = await new Browser().navigate(rp.loginUrl(), { stop: (u) => u.origin === "https://portal.example.com" });
  const to = new URL(done.url);
  assert.equal(to.searchParams.get("app"), "wiki");
  assert.match(to.searchParams.get("return_to") ?? "", new RegExp(`^${issuer}/oidc/interaction/`));
});
