// POST /api.php, seed 002: sso.create, sso.update, sso.delete (and sso.get,
// sso.list) through the real HTTP surface on a real libSQL file. Success
// shapes are the seed's, key for key; every error code of the seed alone and
// together, ascending, with its text word for word.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createAdminAccount } from "../src/core/admin-accounts";
import { apiPhp } from "./helpers/http";
import { openTestServer, type RequestOptions, type TestServer } from "./helpers/runtime";

// Seed 002's error texts, word for word.
const TEXT: Record<number, string> = {
  1: "Missing sourcename",
  2: "Missing sourcecode",
  4: "Invalid sourcecode (must contain only alphanumeric characters, underscores, and hyphens)",
  5: "Invalid expiresat (must be in YYYY-MM-DD HH:MM:SS format)",
  6: "sourcecode already exists",
  7: "Missing validforseconds",
  8: "Invalid validforseconds (must be numeric and >= 1)",
  9: "Missing sourceid",
  10: "Invalid sourceid",
};

const LEGACY_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

type Body = Record<string, unknown>;

let s: TestServer;
let seq = 0;
/** A source code no other test uses. */
const fresh = (prefix = "src") => `${prefix}_${++seq}_${Date.now().toString(36)}`;

const call = (options: RequestOptions) => apiPhp(s, options);

/** A JSON command authenticated with the admin key. */
const api = (json: Body) => call({ json: { APIKey: s.adminKey, ...json } });

/** The exact error body for these codes. */
const failure = (...codes: number[]) => ({ Success: false, ErrorCode: codes, ErrorText: codes.map((c) => TEXT[c]) });

async function expectError(json: Body, codes: number[]) {
  const r = await api(json);
  assert.deepEqual(r.body, failure(...codes), `for ${JSON.stringify(json)}`);
  assert.equal(r.status, 400);
}

async function create(extra: Body = {}): Promise<number> {
  const r = await api({ Command: "sso.create", SourceName: "A source", SourceCode: fresh(), ValidForSeconds: 300, ...extra });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.Success, true, r.text);
  assert.equal(typeof r.body.SSOSourceID, "number");
  return r.body.SSOSourceID as number;
}

async function get(id: number | string): Promise<Body> {
  const r = await api({ Command: "sso.get", SourceID: id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.Success, true, r.text);
  return r.body.Source as Body;
}

before(async () => {
  s = await openTestServer();
  await createAdminAccount(s.runtime.core, "alice", "a long password 123");
});
after(() => s?.close());

// ---------------------------------------------------------------------------
describe("seed 002's three examples", () => {
  async function runSeedExamples(auth: Body) {
    // sso.create, the seed's request, word for word but for the credentials.
    const created = await call({
      json: {
        Command: "sso.create",
        ...auth,
        SourceName: "External Portal",
        SourceCode: "external_portal_v1",
        SourceDescription: "SSO integration for external portal",
        ExpiresAt: "2025-12-31 23:59:59",
        ValidForSeconds: 3600,
        Options: { CreateNewUserIfNotExists: "Enabled", PerformLogin: "Enabled", ReturnUserData: "Enabled" },
      },
    });
    assert.equal(created.status, 200, created.text);
    assert.deepEqual(Object.keys(created.body), ["Success", "ErrorCode", "ErrorText", "SSOSourceID"]);
    const id = created.body.SSOSourceID;
    assert.ok(Number.isInteger(id) && (id as number) > 1, `SSOSourceID an integer: ${created.text}`);
    assert.deepEqual(created.body, { Success: true, ErrorCode: 0, ErrorText: "", SSOSourceID: id });

    let source = await get(id as number);
    assert.equal(source.SourceName, "External Portal");
    assert.equal(source.SourceCode, "external_portal_v1");
    assert.equal(source.SourceDescription, "SSO integration for external portal");
    assert.equal(source.ExpiresAt, "2025-12-31 23:59:59");
    assert.equal(source.ValidForSeconds, 3600);
    assert.deepEqual(source.Options, { CreateNewUserIfNotExists: "Enabled", PerformLogin: "Enabled", ReturnUserData: "Enabled" });

    // sso.update, the seed's request (SourceID is the one just made, not 123).
    const updated = await call({
      json: {
        Command: "sso.update",
        ...auth,
        SourceID: id,
        SourceName: "Updated External Portal",
        SourceCode: "external_portal_v2",
        SourceDescription: "Updated SSO integration for external portal",
        ExpiresAt: "2026-12-31 23:59:59",
        ValidForSeconds: 7200,
        Options: { CreateNewUserIfNotExists: "Disabled", PerformLogin: "Enabled", ReturnUserData: "Enabled" },
      },
    });
    assert.equal(updated.status, 200, updated.text);
    assert.equal(updated.text, '{"Success":true,"ErrorCode":0,"ErrorText":""}');

    source = await get(id as number);
    assert.equal(source.SourceName, "Updated External Portal");
    assert.equal(source.SourceCode, "external_portal_v2");
    assert.equal(source.SourceDescription, "Updated SSO integration for external portal");
    assert.equal(source.ExpiresAt, "2026-12-31 23:59:59");
    assert.equal(source.ValidForSeconds, 7200);
    assert.deepEqual(source.Options, { CreateNewUserIfNotExists: "Disabled", PerformLogin: "Enabled", ReturnUserData: "Enabled" });

    // sso.delete, the seed's request: SourceID as a string.
    const deleted = await call({ json: { Command: "sso.delete", ...auth, SourceID: String(id) } });
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal(deleted.text, '{"Success":true,"ErrorCode":0}');

    const gone = await api({ Command: "sso.get", SourceID: id });
    assert.deepEqual(gone.body, failure(10));
  }

  test("with APIKey instead of SessionID", async () => {
    await runSeedExamples({ APIKey: s.adminKey });
  });

  test("with a SessionID from Command=admin.login", async () => {
    const login = await call({ json: { Command: "admin.login", Username: "alice", Password: "a long password 123" } });
    assert.equal(login.status, 200, login.text);
    assert.equal(login.body.Success, true);
    assert.equal(login.body.ErrorCode, 0);
    assert.match(String(login.body.SessionID), /^[A-Za-z0-9_-]{43}$/);
    await runSeedExamples({ SessionID: login.body.SessionID });
  });
});

// ---------------------------------------------------------------------------
describe("sso.create error codes", () => {
  const valid = () => ({ Command: "sso.create", SourceName: "Name", SourceCode: fresh(), ValidForSeconds: 60 });

  test("1 alone: SourceName missing, empty or blank", async () => {
    const { SourceName: _, ...rest } = valid();
    await expectError(rest, [1]);
    await expectError({ ...valid(), SourceName: "" }, [1]);
    await expectError({ ...valid(), SourceName: "   " }, [1]);
    await expectError({ ...valid(), SourceName: null }, [1]);
  });

  test("2 alone: SourceCode missing or empty", async () => {
    const { SourceCode: _, ...rest } = valid();
    await expectError(rest, [2]);
    await expectError({ ...valid(), SourceCode: "" }, [2]);
  });

  test("1 and 2 together, as the seed's error example: exactly that body", async () => {
    const r = await api({ Command: "sso.create", ValidForSeconds: 60 });
    assert.equal(r.status, 400);
    assert.equal(r.text, '{"Success":false,"ErrorCode":[1,2],"ErrorText":["Missing sourcename","Missing sourcecode"]}');
  });

  test("4: a code with other characters than letters, digits, _ and -", async () => {
    for (const code of ["has space", "dot.ted", "slash/x", "semi;colon", "ümlaut", "quote'", "a+b"]) {
      await expectError({ ...valid(), SourceCode: code }, [4]);
    }
  });

  test("5: ExpiresAt not a real YYYY-MM-DD HH:MM:SS", async () => {
    for (const bad of [
      "2025-13-01 00:00:00",
      "2025-02-30 10:00:00",
      "2025-12-31",
      "2025-12-31T23:59:59",
      "2025-12-31 24:00:00",
      "2025-12-31 23:60:00",
      "31/12/2025 23:59:59",
      "tomorrow",
    ]) {
      await expectError({ ...valid(), ExpiresAt: bad }, [5]);
    }
  });

  test("5 accepts a leap day and an empty ExpiresAt (no expiry)", async () => {
    const leap = await create({ ExpiresAt: "2028-02-29 12:00:00" });
    assert.equal((await get(leap)).ExpiresAt, "2028-02-29 12:00:00");
    const none = await create({ ExpiresAt: "" });
    assert.equal((await get(none)).ExpiresAt, "");
    await expectError({ ...valid(), ExpiresAt: "2027-02-29 12:00:00" }, [5]);
  });

  test("6: sourcecode already exists (also the default source's code)", async () => {
    const code = fresh("dup");
    await create({ SourceCode: code });
    await expectError({ ...valid(), SourceCode: code }, [6]);
    await expectError({ ...valid(), SourceCode: "default" }, [6]);
  });

  test("6 together with 1 and 7", async () => {
    const code = fresh("dup");
    await create({ SourceCode: code });
    await expectError({ Command: "sso.create", SourceCode: code }, [1, 6, 7]);
    await expectError({ Command: "sso.create", SourceCode: code, SourceName: "x" }, [6, 7]);
    await expectError({ Command: "sso.create", SourceCode: code, ValidForSeconds: 10 }, [1, 6]);
  });

  test("7: ValidForSeconds missing or empty", async () => {
    const { ValidForSeconds: _, ...rest } = valid();
    await expectError(rest, [7]);
    await expectError({ ...valid(), ValidForSeconds: "" }, [7]);
  });

  test('8: ValidForSeconds "abc", 0, -5, 1.5 (numbers and strings)', async () => {
    for (const bad of ["abc", 0, -5, 1.5, "0", "-5", "1.5", "12abc"]) {
      await expectError({ ...valid(), ValidForSeconds: bad }, [8]);
    }
  });

  test("all failing codes at once, ascending: 1, 4, 5, 8", async () => {
    await expectError({ Command: "sso.create", SourceCode: "no good", ExpiresAt: "2025-12-31", ValidForSeconds: 0 }, [1, 4, 5, 8]);
  });

  test("all failing codes at once, ascending: 2, 5, 7", async () => {
    await expectError({ Command: "sso.create", SourceName: "n", ExpiresAt: "2025-13-01 00:00:00" }, [2, 5, 7]);
  });

  test("1, 2, 7: an empty command", async () => {
    await expectError({ Command: "sso.create" }, [1, 2, 7]);
  });

  test("a failed create stores nothing", async () => {
    const before = ((await api({ Command: "sso.list" })).body.Sources as Body[]).length;
    await expectError({ Command: "sso.create", SourceName: "n", SourceCode: "x y", ValidForSeconds: 5 }, [4]);
    const after = ((await api({ Command: "sso.list" })).body.Sources as Body[]).length;
    assert.equal(after, before);
  });
});

// ---------------------------------------------------------------------------
describe("sso.update error codes", () => {
  const body = (id: unknown, extra: Body = {}) => ({
    Command: "sso.update",
    SourceID: id,
    SourceName: "N",
    SourceCode: fresh("upd"),
    ValidForSeconds: 30,
    ...extra,
  });

  test("9: SourceID missing", async () => {
    const { SourceID: _, ...rest } = body(1);
    await expectError(rest, [9]);
    await expectError(body(""), [9]);
  });

  test("10: SourceID not numeric", async () => {
    await expectError(body("abc"), [10]);
    await expectError(body("1.5"), [10]);
    await expectError(body(-3), [10]);
  });

  test("10: SourceID unknown", async () => {
    await expectError(body(987654), [10]);
    await expectError(body("987654"), [10]);
  });

  test("1, 2, 7, 9 together for an empty update", async () => {
    await expectError({ Command: "sso.update" }, [1, 2, 7, 9]);
  });

  test("codes 1, 4, 5, 8, 10 together", async () => {
    await expectError(
      { Command: "sso.update", SourceID: "x", SourceCode: "b a d", ExpiresAt: "2025-02-30 10:00:00", ValidForSeconds: "abc" },
      [1, 4, 5, 8, 10],
    );
  });

  test("6: updating to a code another source uses", async () => {
    const takenCode = fresh("taken");
    await create({ SourceCode: takenCode });
    const id = await create();
    await expectError(body(id, { SourceCode: takenCode }), [6]);
    await expectError(body(id, { SourceCode: "default" }), [6]);
  });

  test("keeping its own code is not a conflict", async () => {
    const code = fresh("own");
    const id = await create({ SourceCode: code });
    const r = await api(body(id, { SourceCode: code, SourceName: "Renamed" }));
    assert.deepEqual(r.body, { Success: true, ErrorCode: 0, ErrorText: "" });
    assert.equal((await get(id)).SourceName, "Renamed");
  });

  test("a failed update changes nothing", async () => {
    const code = fresh("keep");
    const id = await create({ SourceCode: code, SourceName: "Before", ValidForSeconds: 77 });
    await expectError(body(id, { SourceName: "After", ValidForSeconds: 0 }), [8]);
    const source = await get(id);
    assert.equal(source.SourceName, "Before");
    assert.equal(source.SourceCode, code);
    assert.equal(source.ValidForSeconds, 77);
  });

  test("update omitting Options keeps the previous options", async () => {
    const id = await create({ Options: { CreateNewUserIfNotExists: "Disabled", PerformLogin: "Enabled", ReturnUserData: "Disabled" } });
    const r = await api(body(id, { SourceName: "No options given" }));
    assert.deepEqual(r.body, { Success: true, ErrorCode: 0, ErrorText: "" });
    const source = await get(id);
    assert.equal(source.SourceName, "No options given");
    assert.deepEqual(source.Options, { CreateNewUserIfNotExists: "Disabled", PerformLogin: "Enabled", ReturnUserData: "Disabled" });
  });

  test("update with one option changes that one only", async () => {
    const id = await create({ Options: { CreateNewUserIfNotExists: "Disabled", PerformLogin: "Disabled", ReturnUserData: "Disabled" } });
    const r = await api(body(id, { Options: { ReturnUserData: "Enabled" } }));
    assert.deepEqual(r.body, { Success: true, ErrorCode: 0, ErrorText: "" });
    assert.deepEqual((await get(id)).Options, { CreateNewUserIfNotExists: "Disabled", PerformLogin: "Disabled", ReturnUserData: "Enabled" });
  });
});

// ---------------------------------------------------------------------------
describe("sso.delete", () => {
  test('no SourceID: ErrorCode [1] (seed: "Missing sourceid")', async () => {
    for (const json of [{ Command: "sso.delete" }, { Command: "sso.delete", SourceID: "" }]) {
      const r = await api(json);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.Success, false);
      assert.deepEqual(r.body.ErrorCode, [1]);
      // The seed's delete error shows no ErrorText; ssod gives one, and it is
      // delete's own meaning of code 1, never create's "Missing sourcename".
      assert.deepEqual(r.body.ErrorText, ["Missing sourceid"], r.text);
    }
  });

  test('"1" (the default source) is refused with code 12 and stays', async () => {
    const r = await api({ Command: "sso.delete", SourceID: "1" });
    assert.equal(r.status, 400);
    assert.equal(r.body.Success, false);
    assert.deepEqual(r.body.ErrorCode, [12]);
    assert.equal((r.body.ErrorText as string[]).length, 1);
    assert.equal((await get(1)).SourceCode, "default");
  });

  test("an unknown id → 10", async () => {
    await expectError({ Command: "sso.delete", SourceID: "99999" }, [10]);
    await expectError({ Command: "sso.delete", SourceID: "abc" }, [10]);
  });

  test('"2,3"-style comma list deletes both', async () => {
    const a = await create();
    const b = await create();
    const r = await api({ Command: "sso.delete", SourceID: `${a},${b}` });
    assert.equal(r.text, '{"Success":true,"ErrorCode":0}');
    assert.deepEqual((await api({ Command: "sso.get", SourceID: a })).body, failure(10));
    assert.deepEqual((await api({ Command: "sso.get", SourceID: b })).body, failure(10));
  });

  test("a list with spaces, and a numeric SourceID, work too", async () => {
    const a = await create();
    const b = await create();
    const c = await create();
    assert.equal((await api({ Command: "sso.delete", SourceID: `${a}, ${b}` })).text, '{"Success":true,"ErrorCode":0}');
    assert.equal((await api({ Command: "sso.delete", SourceID: c })).text, '{"Success":true,"ErrorCode":0}');
    const ids = ((await api({ Command: "sso.list" })).body.Sources as Body[]).map((x) => x.SourceID);
    for (const id of [a, b, c]) assert.ok(!ids.includes(id), `${id} still listed`);
  });

  test("a list with one unknown id deletes nothing", async () => {
    const a = await create();
    await expectError({ Command: "sso.delete", SourceID: `${a},99998` }, [10]);
    assert.equal((await get(a)).SourceID, a);
  });

  test("a list holding the default source deletes nothing", async () => {
    const a = await create();
    const r = await api({ Command: "sso.delete", SourceID: `${a},1` });
    assert.equal(r.body.Success, false);
    assert.deepEqual(r.body.ErrorCode, [12]);
    assert.equal((await get(a)).SourceID, a);
  });

  test("deleting twice: the second time → 10", async () => {
    const a = await create();
    assert.equal((await api({ Command: "sso.delete", SourceID: String(a) })).text, '{"Success":true,"ErrorCode":0}');
    await expectError({ Command: "sso.delete", SourceID: String(a) }, [10]);
  });
});

// ---------------------------------------------------------------------------
describe("bodies and field names", () => {
  test("form body with Options[PerformLogin]=Disabled: that option off, the others on", async () => {
    const code = fresh("form");
    const r = await call({
      form: {
        Command: "sso.create",
        APIKey: s.adminKey,
        SourceName: "Form Source",
        SourceCode: code,
        ValidForSeconds: "900",
        "Options[PerformLogin]": "Disabled",
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.body), ["Success", "ErrorCode", "ErrorText", "SSOSourceID"]);
    const source = await get(r.body.SSOSourceID as number);
    assert.equal(source.SourceCode, code);
    assert.equal(source.ValidForSeconds, 900);
    assert.deepEqual(source.Options, { CreateNewUserIfNotExists: "Enabled", PerformLogin: "Disabled", ReturnUserData: "Enabled" });
  });

  test("form body written by hand, brackets not percent-encoded", async () => {
    const code = fresh("raw");
    const raw = `Command=sso.create&APIKey=${s.adminKey}&SourceName=Raw+Form&SourceCode=${code}&ValidForSeconds=60&Options[ReturnUserData]=Disabled&Options[CreateNewUserIfNotExists]=Disabled&ExpiresAt=2030-01-02+03%3A04%3A05`;
    const r = await call({ form: raw });
    assert.equal(r.status, 200, r.text);
    const source = await get(r.body.SSOSourceID as number);
    assert.equal(source.SourceName, "Raw Form");
    assert.equal(source.ExpiresAt, "2030-01-02 03:04:05");
    assert.deepEqual(source.Options, { CreateNewUserIfNotExists: "Disabled", PerformLogin: "Enabled", ReturnUserData: "Disabled" });
  });

  test("form body errors use the same codes", async () => {
    const r = await call({ form: { Command: "sso.create", APIKey: s.adminKey, ValidForSeconds: "abc" } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, failure(1, 2, 8));
  });

  test("form-encoded update and delete", async () => {
    const id = await create();
    const code = fresh("formupd");
    const u = await call({
      form: {
        Command: "sso.update",
        APIKey: s.adminKey,
        SourceID: String(id),
        SourceName: "U",
        SourceCode: code,
        ValidForSeconds: "61",
        "Options[PerformLogin]": "Disabled",
      },
    });
    assert.equal(u.text, '{"Success":true,"ErrorCode":0,"ErrorText":""}');
    const source = await get(id);
    assert.equal(source.SourceCode, code);
    assert.equal(source.ValidForSeconds, 61);
    assert.equal((source.Options as Body).PerformLogin, "Disabled");
    const d = await call({ form: { Command: "sso.delete", APIKey: s.adminKey, SourceID: String(id) } });
    assert.equal(d.text, '{"Success":true,"ErrorCode":0}');
  });

  test("multipart/form-data body", async () => {
    const code = fresh("multi");
    const boundary = "----ssodTestBoundary7MA4YWxkTrZu0gW";
    const fields: Record<string, string> = {
      Command: "sso.create",
      APIKey: s.adminKey,
      SourceName: "Multipart Source",
      SourceCode: code,
      SourceDescription: "sent as multipart",
      ValidForSeconds: "120",
      "Options[ReturnUserData]": "Disabled",
    };
    const body =
      Object.entries(fields)
        .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
        .join("") + `--${boundary}--\r\n`;
    const r = await call({ body, headers: { "content-type": `multipart/form-data; boundary=${boundary}` } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.body), ["Success", "ErrorCode", "ErrorText", "SSOSourceID"]);
    const source = await get(r.body.SSOSourceID as number);
    assert.equal(source.SourceName, "Multipart Source");
    assert.equal(source.SourceDescription, "sent as multipart");
    assert.equal(source.ValidForSeconds, 120);
    assert.deepEqual(source.Options, { CreateNewUserIfNotExists: "Enabled", PerformLogin: "Enabled", ReturnUserData: "Disabled" });
  });

  test("field names in other cases (sourcename, SOURCECODE, validforseconds, apikey, options.performlogin)", async () => {
    const code = fresh("case");
    const r = await call({
      json: {
        command: "sso.create",
        apikey: s.adminKey,
        sourcename: "lower",
        SOURCECODE: code,
        ValidforSeconds: 45,
        sourceDESCRIPTION: "mixed",
        options: { performlogin: "Disabled", RETURNUSERDATA: "disabled" },
      },
    });
    assert.equal(r.status, 200, r.text);
    const source = await get(r.body.SSOSourceID as number);
    assert.equal(source.SourceName, "lower");
    assert.equal(source.SourceCode, code);
    assert.equal(source.SourceDescription, "mixed");
    assert.equal(source.ValidForSeconds, 45);
    assert.deepEqual(source.Options, { CreateNewUserIfNotExists: "Enabled", PerformLogin: "Disabled", ReturnUserData: "Disabled" });
  });

  test("form field names in other cases", async () => {
    const code = fresh("fcase");
    const r = await call({
      form: { COMMAND: "sso.create", apiKEY: s.adminKey, sourcename: "f", sourceCODE: code, VALIDFORSECONDS: "9", "options[PERFORMLOGIN]": "Disabled" },
    });
    assert.equal(r.status, 200, r.text);
    const source = await get(r.body.SSOSourceID as number);
    assert.equal(source.SourceCode, code);
    assert.equal(source.ValidForSeconds, 9);
    assert.equal((source.Options as Body).PerformLogin, "Disabled");
  });

  test('ValidForSeconds as a JSON number or as a string "3600"', async () => {
    const asNumber = await create({ ValidForSeconds: 3600 });
    const asString = await create({ ValidForSeconds: "3600" });
    assert.equal((await get(asNumber)).ValidForSeconds, 3600);
    assert.equal((await get(asString)).ValidForSeconds, 3600);
  });

  test("SourceID as a JSON number or a string, for get and update", async () => {
    const id = await create();
    assert.equal((await get(String(id))).SourceID, id);
    const r = await api({ Command: "sso.update", SourceID: String(id), SourceName: "S", SourceCode: fresh(), ValidForSeconds: "5" });
    assert.deepEqual(r.body, { Success: true, ErrorCode: 0, ErrorText: "" });
  });

  test("an option that is neither Enabled nor Disabled is refused", async () => {
    const r = await api({ Command: "sso.create", SourceName: "o", SourceCode: fresh(), ValidForSeconds: 5, Options: { PerformLogin: "Maybe" } });
    assert.equal(r.status, 400);
    assert.equal(r.body.Success, false);
    assert.equal((r.body.ErrorCode as number[]).length, 1);
    assert.ok(!(r.body.ErrorCode as number[]).some((c) => c === 0), r.text);
  });

  test("a Command value in another case or with spaces around it still runs the command", async () => {
    // The dispatcher matches the command name case-insensitively; the command
    // must then run (or be refused as unknown, 100), never "Invalid request body".
    for (const command of ["SSO.Create", " sso.create "]) {
      const r = await api({ Command: command, SourceName: "c", SourceCode: fresh(), ValidForSeconds: 5 });
      assert.equal(r.body.Success, true, `${JSON.stringify(command)}: ${r.text}`);
      assert.equal(typeof r.body.SSOSourceID, "number");
    }
  });
});

// ---------------------------------------------------------------------------
describe("sso.get and sso.list", () => {
  test("sso.get: PascalCase fields, Enabled/Disabled, ExpiresAt as YYYY-MM-DD HH:MM:SS", async () => {
    const code = fresh("get");
    const id = await create({
      SourceName: "Got",
      SourceCode: code,
      SourceDescription: "desc",
      ExpiresAt: "2031-07-08 09:10:11",
      ValidForSeconds: 1234,
      Options: { CreateNewUserIfNotExists: "Disabled", PerformLogin: "Enabled", ReturnUserData: "Disabled" },
    });
    const r = await api({ Command: "sso.get", SourceID: id });
    assert.equal(r.status, 200);
    assert.equal(r.body.Success, true);
    assert.equal(r.body.ErrorCode, 0);
    const source = r.body.Source as Body;
    for (const key of Object.keys(source)) assert.match(key, /^[A-Z][A-Za-z]*$/, `PascalCase key: ${key}`);
    for (const key of Object.keys(source.Options as Body)) assert.match(key, /^[A-Z][A-Za-z]*$/);
    assert.equal(source.SourceID, id);
    assert.equal(source.SourceName, "Got");
    assert.equal(source.SourceCode, code);
    assert.equal(source.SourceDescription, "desc");
    assert.equal(source.ExpiresAt, "2031-07-08 09:10:11");
    assert.equal(source.ValidForSeconds, 1234);
    assert.deepEqual(source.Options, { CreateNewUserIfNotExists: "Disabled", PerformLogin: "Enabled", ReturnUserData: "Disabled" });
    // Nothing secret is shown.
    assert.doesNotMatch(r.text, /ssod_(cs|ss|ak)_/);
    assert.doesNotMatch(r.text, /secret/i);
    for (const [k, value] of Object.entries(source)) {
      if (/At$/.test(k) && value !== "") assert.match(String(value), LEGACY_TIME, `${k}: ${String(value)}`);
    }
  });

  test("sso.get: no expiry shows ExpiresAt as an empty string", async () => {
    const id = await create();
    assert.equal((await get(id)).ExpiresAt, "");
  });

  test("sso.get: missing → 9, unknown or not numeric → 10", async () => {
    await expectError({ Command: "sso.get" }, [9]);
    await expectError({ Command: "sso.get", SourceID: 424242 }, [10]);
    await expectError({ Command: "sso.get", SourceID: "abc" }, [10]);
  });

  test("sso.list: every source in the same shape, the default one included", async () => {
    const id = await create({ Options: { PerformLogin: "Disabled" } });
    const r = await api({ Command: "sso.list" });
    assert.equal(r.status, 200);
    assert.equal(r.body.Success, true);
    assert.equal(r.body.ErrorCode, 0);
    const sources = r.body.Sources as Body[];
    assert.ok(Array.isArray(sources));
    const def = sources.find((x) => x.SourceCode === "default")!;
    assert.ok(def, "default listed");
    assert.equal(def.SourceID, 1);
    assert.equal(def.ValidForSeconds, 60);
    assert.equal(def.ExpiresAt, "");
    assert.deepEqual(def.Options, { CreateNewUserIfNotExists: "Enabled", PerformLogin: "Enabled", ReturnUserData: "Enabled" });
    const mine = sources.find((x) => x.SourceID === id)!;
    assert.deepEqual(mine, await get(id));
    assert.deepEqual((mine.Options as Body).PerformLogin, "Disabled");
    for (const source of sources) {
      for (const value of Object.values(source.Options as Body)) assert.ok(value === "Enabled" || value === "Disabled");
      assert.ok(source.ExpiresAt === "" || LEGACY_TIME.test(String(source.ExpiresAt)));
    }
    assert.doesNotMatch(r.text, /ssod_(cs|ss|ak)_/);
  });
});

// ---------------------------------------------------------------------------
describe("commands and malformed requests", () => {
  const shape = (code: number, text: string) => ({ Success: false, ErrorCode: [code], ErrorText: [text] });

  test("unknown command → 100", async () => {
    const r = await api({ Command: "sso.frobnicate" });
    assert.equal(r.status, 400);
    assert.equal(r.body.Success, false);
    assert.deepEqual(r.body.ErrorCode, [100]);
    assert.equal((r.body.ErrorText as string[]).length, 1);
  });

  test("missing or empty Command → 100", async () => {
    for (const json of [{}, { Command: "" }, { Command: null }]) {
      const r = await api(json);
      assert.equal(r.status, 400);
      assert.deepEqual(r.body.ErrorCode, [100]);
    }
    const form = await call({ form: { APIKey: s.adminKey } });
    assert.deepEqual(form.body.ErrorCode, [100]);
  });

  test("unknown command is 100 even without credentials", async () => {
    const r = await call({ json: { Command: "nope" } });
    assert.deepEqual(r.body.ErrorCode, [100]);
  });

  test("malformed JSON → 105", async () => {
    for (const body of ["{", '{"Command": "sso.list",', "[1,2,3]", '"text"', "null"]) {
      const r = await call({ body, headers: { "content-type": "application/json" } });
      assert.equal(r.status, 400, `${body}: ${r.text}`);
      assert.deepEqual(r.body, shape(105, "Invalid request body"), body);
    }
  });

  test("body over 64 KiB → HTTP 413, code 106 (streamed and with Content-Length)", async () => {
    const big = JSON.stringify({ Command: "sso.list", APIKey: s.adminKey, Pad: "x".repeat(65 * 1024) });
    const r = await call({ body: big, headers: { "content-type": "application/json" } });
    assert.equal(r.status, 413);
    assert.deepEqual(r.body, shape(106, "Request body too large"));
    const declared = await call({ body: big, headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(big)) } });
    assert.equal(declared.status, 413);
    assert.deepEqual(declared.body, shape(106, "Request body too large"));
    const form = await call({ form: { Command: "sso.list", APIKey: s.adminKey, Pad: "y".repeat(70_000) } });
    assert.equal(form.status, 413);
    assert.deepEqual(form.body.ErrorCode, [106]);
  });

  test("a body just under 64 KiB is read", async () => {
    const base = JSON.stringify({ Command: "sso.list", APIKey: s.adminKey, Pad: "" });
    const body = JSON.stringify({ Command: "sso.list", APIKey: s.adminKey, Pad: "x".repeat(64 * 1024 - Buffer.byteLength(base) - 1) });
    assert.ok(Buffer.byteLength(body) < 64 * 1024);
    const r = await call({ body, headers: { "content-type": "application/json" } });
    assert.equal(r.status, 200, r.text.slice(0, 200));
    assert.equal(r.body.Success, true);
  });

  test("never a 5xx for odd inputs", async () => {
    const odd: RequestOptions[] = [
      { body: "", headers: {} },
      { body: "\u0000\u0001", headers: { "content-type": "application/octet-stream" } },
      { body: "x", headers: { "content-type": "multipart/form-data; boundary=zz" } },
      { body: "%%%=%%%&&&", headers: { "content-type": "application/x-www-form-urlencoded" } },
      { json: { Command: ["sso.create"], APIKey: s.adminKey } },
      { json: { Command: "sso.create", APIKey: s.adminKey, SourceName: ["a"], SourceCode: { x: 1 }, ValidForSeconds: true, Options: "x" } },
      { json: { Command: "sso.update", APIKey: s.adminKey, SourceID: { id: 1 }, SourceName: 1, SourceCode: 2, ValidForSeconds: [] } },
      { json: { Command: "sso.delete", APIKey: s.adminKey, SourceID: [1, 2] } },
      { json: { Command: "sso.delete", APIKey: s.adminKey, SourceID: "1e3" } },
      { json: { Command: "sso.delete", APIKey: s.adminKey, SourceID: "99999999999999999999999" } },
      { json: { Command: "sso.get", APIKey: s.adminKey, SourceID: 1e300 } },
      { json: { Command: "sso.create", APIKey: s.adminKey, SourceName: "n", SourceCode: "c".repeat(5000), ValidForSeconds: 1e308 } },
      { json: { Command: "sso.list", APIKey: { nested: true } } },
      { json: { Command: "sso.list", SessionID: 12345 } },
      { json: { Command: "admin.login", Username: ["x"], Password: { y: 1 } } },
    ];
    for (const options of odd) {
      const r = await call(options);
      assert.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(options).slice(0, 120)} → ${r.status} ${r.text}`);
      assert.equal(r.body.Success, false);
      assert.ok(Array.isArray(r.body.ErrorCode) && (r.body.ErrorCode as number[]).length > 0);
    }
  });
});
