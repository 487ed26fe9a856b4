// SPEC §5 "Concurrent admin changes never lose an update: two PATCHes of
// different fields of the same source, app or user, sent at once, both land."
// tests/adapter-contract.test.ts races two PATCHes of a source; this file
// races them on an app and on a user, which are written by other code.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { openTestServer, type TestServer } from "./helpers/runtime";

const ROUNDS = 20;

let s: TestServer;
let admin: Record<string, string>;

before(async () => {
  s = await openTestServer();
  admin = { authorization: `Bearer ${s.adminKey}` };
});
after(() => s.close());

const patch = (path: string, json: unknown) => s.request("PATCH", path, { json, headers: admin });

test(`${ROUNDS} rounds of two PATCH /v1/apps/{id} at once, one the name and one the allowed groups: both land every time`, async () => {
  const made = await s.request("POST", "/v1/apps", { json: { name: "start", redirectUris: ["https://app.example.com/cb"] }, headers: admin });
  assert.equal(made.status, 201, await made.clone().text());
  const { id } = (await made.json()) as { id: number };
  for (let round = 0; round < ROUNDS; round++) {
    const [a, b] = await Promise.all([patch(`/v1/apps/${id}`, { name: `name ${round}` }), patch(`/v1/apps/${id}`, { allowedGroups: [`group-${round}`] })]);
    assert.equal(a.status, 200, await a.text());
    assert.equal(b.status, 200, await b.text());
    const now = (await (await s.request("GET", `/v1/apps/${id}`, { headers: admin })).json()) as { name: string; allowedGroups: string[] };
    assert.deepEqual({ name: now.name, allowedGroups: now.allowedGroups }, { name: `name ${round}`, allowedGroups: [`group-${round}`] }, `round ${round}`);
  }
});

test(`${ROUNDS} rounds of two PATCH /v1/users/{id} at once, one the display name and one the groups: both land every time`, async () => {
  const issued = await s.request("POST", "/v1/tokens", { json: { user: { email: "patched@example.com", displayName: "start" } }, headers: admin });
  assert.equal(issued.status, 201);
  const redeemed = await s.request("POST", "/v1/tokens/redeem", { json: { token: ((await issued.json()) as { token: string }).token }, headers: admin });
  assert.equal(redeemed.status, 200);
  const { id } = ((await redeemed.json()) as { user: { id: string } }).user;
  for (let round = 0; round < ROUNDS; round++) {
    const [a, b] = await Promise.all([patch(`/v1/users/${id}`, { displayName: `name ${round}` }), patch(`/v1/users/${id}`, { groups: [`group-${round}`] })]);
    assert.equal(a.status, 200, await a.text());
    assert.equal(b.status, 200, await b.text());
    const now = (await (await s.request("GET", `/v1/users/${id}`, { headers: admin })).json()) as { displayName: string; groups: string[] };
    assert.deepEqual({ displayName: now.displayName, groups: now.groups }, { displayName: `name ${round}`, groups: [`group-${round}`] }, `round ${round}`);
  }
});
