// GET /metrics in Prometheus text format: requests by route and status,
// tokens by source and dialect, refusals, throttling, store calls, build
// info; and the token that guards it. The request log is
// tests/request-log.test.ts (it needs the built server's stdout).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { openTestServer, type TestServer } from "./helpers/runtime";

describe("GET /metrics", () => {
  let server: TestServer;
  before(async () => {
    server = await openTestServer();
  });
  after(() => server?.close());

  const scrape = async () => {
    const response = await server.request("GET", "/metrics");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  test("counts requests by route and status, tokens by source and dialect, refusals, throttling, store calls, build info", async () => {
    const auth = { authorization: `Bearer ${server.adminKey}` };
    const issued = (await (await server.request("POST", "/v1/tokens", { json: { user: { email: "m@example.com" } }, headers: auth })).json()) as {
      token: string;
    };
    assert.equal((await server.request("POST", "/v1/tokens/redeem", { json: { token: issued.token }, headers: auth })).status, 200);
    assert.equal((await server.request("POST", "/v1/tokens/redeem", { json: { token: issued.token }, headers: auth })).status, 400);
    assert.equal(
      (await server.request("POST", "/api/sso", { json: { emailAddress: "t@example.com" }, headers: { "admin-auth": server.adminKey } })).status,
      200,
    );
    for (let i = 0; i < 31; i++) await server.request("GET", "/v1/sources", { headers: { authorization: "Bearer nope" }, ip: "203.0.113.9" });
    const text = await scrape();
    assert.match(text, /^ssod_build_info\{version="\d+\.\d+\.\d+",node="v\d+[^"]*"\} 1$/m);
    assert.match(text, /^ssod_http_requests_total\{method="POST",route="\/v1\/tokens",status="201"\} 1$/m);
    assert.match(text, /^ssod_http_requests_total\{method="GET",route="\/v1\/sources",status="429"\} 1$/m);
    assert.match(text, /^ssod_http_request_duration_seconds_bucket\{le="\+Inf",method="POST",route="\/v1\/tokens\/redeem"\} 2$/m);
    assert.match(text, /^ssod_tokens_issued_total\{source="default",dialect="v1"\} 1$/m);
    assert.match(text, /^ssod_tokens_issued_total\{source="default",dialect="tyk"\} 1$/m);
    assert.match(text, /^ssod_tokens_redeemed_total\{source="default",via="api"\} 1$/m);
    assert.match(text, /^ssod_tokens_refused_total\{via="api",reason="invalid"\} 1$/m);
    assert.match(text, /^ssod_throttled_total\{action="admin.auth_failed"\} 1$/m);
    assert.match(text, /^ssod_store_call_duration_seconds_count\{kind="write"\} \d+$/m);
    assert.match(text, /^ssod_process_resident_memory_bytes \d+/m);
  });

  test("unmatched paths share one label", async () => {
    await server.request("GET", "/no/such/path/1");
    await server.request("GET", "/no/such/path/2");
    assert.match(await scrape(), /^ssod_http_requests_total\{method="GET",route="unmatched",status="404"\} 2$/m);
  });

  test("SSOD_METRICS_TOKEN guards the endpoint", async () => {
    const guarded = await openTestServer({ SSOD_METRICS_TOKEN: "a-long-metrics-token" });
    try {
      assert.equal((await guarded.request("GET", "/metrics")).status, 401);
      assert.equal((await guarded.request("GET", "/metrics", { headers: { authorization: "Bearer wrong-token-of-some-length" } })).status, 401);
      assert.equal((await guarded.request("GET", "/metrics", { headers: { authorization: "Bearer a-long-metrics-token" } })).status, 200);
    } finally {
      await guarded.close();
    }
  });
});
