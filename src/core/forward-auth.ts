// Forward auth (SPEC §8): a reverse proxy asks, for each request it is about
// to pass to a protected app, whether to let it through. This module reads
// the original request from the headers the proxy set — strictly: anything
// missing, empty, malformed or ambiguous is refused, never guessed —, finds
// the app that protects it, and judges the browser's session against the
// app's rule with one keyed read of the store and no write.
import { type App, appAdmits, protectingApps } from "./apps";
import type { Core } from "./context";
import { findSessionUser, type SessionUser } from "./login-sessions";

/** How each decision is counted in /metrics. */
export type ForwardAuthOutcome = "allow" | "unauthenticated" | "redirect" | "forbidden" | "no_app" | "malformed" | "error";

/** The request the proxy was asked for, as the proxy said it. */
interface OriginalRequest {
  /** `forwarded`: X-Forwarded-Method/-Proto/-Host/-Uri (Caddy, Traefik); `original`: X-Original-URL/-Method (nginx). */
  form: "forwarded" | "original";
  method: string;
  /** scheme://host[:port]/path?query: where to come back to after signing in. */
  url: string;
  /** Lower case, without the port. */
  host: string;
  /** The path as received (no query). */
  path: string;
}

type Parsed = { ok: true; request: OriginalRequest } | { ok: false; reason: string };

// A host as a request carries it: a name (labels of letters, digits, - and _;
// nginx's catch-all server_name is `_`) or a bracketed IPv6 literal, then an
// optional port. No userinfo, no spaces, no backslashes, no second value.
const AUTHORITY = /^([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*|\[[0-9a-f:.]{2,45}\])(?::([0-9]{1,5}))?$/i;
// A request target in origin form: a path from /, then an optional query; printable ASCII, no fragment.
const TARGET = /^\/[\x21\x22\x24-\x7e]*$/;
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;
// What nginx's X-Original-URL must look like before anything else reads it:
// WHATWG `new URL()` reads `http:///evil/x`, `http:\\evil`, `http:evil/x` and
// `http://app@evil/` all as the host `evil`.
const ORIGINAL_URL = /^(https?):\/\/([^/?#@\\\s]+)(\/.*)$/i;

function authority(text: string): { host: string; port: string | undefined } | undefined {
  if (text.length > 260) return undefined;
  const m = AUTHORITY.exec(text);
  if (!m) return undefined;
  if (m[2] !== undefined && Number(m[2]) > 65535) return undefined;
  return { host: m[1]!.toLowerCase(), port: m[2] };
}

function request(form: OriginalRequest["form"], method: string | undefined, scheme: string, hostPort: string, target: string): Parsed {
  if (method === undefined || !METHOD.test(method))
    return { ok: false, reason: `${form === "original" ? "X-Original-Method" : "X-Forwarded-Method"} is missing or malformed` };
  const where = authority(hostPort);
  if (!where) return { ok: false, reason: "the host is missing or malformed" };
  if (!TARGET.test(target)) return { ok: false, reason: "the URI is missing or malformed" };
  const query = target.indexOf("?");
  return {
    ok: true,
    request: {
      form,
      method,
      url: `${scheme}://${hostPort.toLowerCase()}${target}`,
      host: where.host,
      path: query < 0 ? target : target.slice(0, query),
    },
  };
}

/**
 * The original request, from the headers a proxy sets: X-Forwarded-* when
 * X-Forwarded-Host is present (even empty: Caddy sends it empty for an
 * HTTP/1.0 request without Host, and that is malformed, not a reason to look
 * elsewhere), else X-Original-URL and X-Original-Method. Both forms at once
 * is a proxy that passes a client's headers on, and is refused too.
 */
function originalRequest(header: (name: string) => string | undefined): Parsed {
  const forwardedHost = header("x-forwarded-host");
  const originalUrl = header("x-original-url");
  if (forwardedHost !== undefined) {
    if (originalUrl !== undefined) return { ok: false, reason: "both X-Forwarded-Host and X-Original-URL are present" };
    const proto = header("x-forwarded-proto")?.toLowerCase();
    if (proto !== "http" && proto !== "https") return { ok: false, reason: "X-Forwarded-Proto is missing or not http/https" };
    return request("forwarded", header("x-forwarded-method"), proto, forwardedHost, header("x-forwarded-uri") ?? "");
  }
  if (originalUrl === undefined) return { ok: false, reason: "neither X-Forwarded-Host nor X-Original-URL is present" };
  const m = ORIGINAL_URL.exec(originalUrl);
  if (!m) return { ok: false, reason: "X-Original-URL is not an absolute http(s) URL with a host" };
  return request("original", header("x-original-method"), m[1]!.toLowerCase(), m[2]!, m[3]!);
}

// ---- the path, as the servers behind the proxy may read it ----

// Nothing any server reads differently: no escapes, dot segments, doubled slashes, backslashes or ;parameters.
const PLAIN_PATH = /^(?:\/(?![./])[A-Za-z0-9\-_~!$&'()*+,=:@.]*)+$|^\/$/;

/** The path as WHATWG URL parsing (and most strict servers) reads it: dot segments resolved, \ as /. */
function strictReading(path: string): string {
  // Not `new URL(path, base)`: that reads `//evil/x` as a host.
  return new URL(`http://h${path}`).pathname;
}

/**
 * The path as a lenient server may read it: escapes decoded, \ as /,
 * ;parameters dropped (Java servers), doubled slashes merged (nginx), dot
 * segments resolved. Undefined when the escapes do not decode.
 */
function lenientReading(path: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  const slashed = decoded.replaceAll("\\", "/");
  const out: string[] = [];
  for (const raw of slashed.split("/")) {
    const segment = raw.split(";")[0]!;
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  // As WHATWG reads them: `/a/` and `/a/b/..` keep a trailing slash.
  const trailing = out.length > 0 && (slashed.endsWith("/") || /\/\.\.?$/.test(slashed)) ? "/" : "";
  return `/${out.join("/")}${trailing}`;
}

/**
 * The apps that protect the request. When the path is one that servers may
 * read differently (`/public/..%2Fadmin`, `/admin;x/../public`, `//admin`),
 * every reading must lead to the same apps, or the request is refused: the
 * apps that decide must be those whose part of the host is served.
 */
function appsFor(apps: readonly App[], request: OriginalRequest): { apps: App[] } | { ambiguous: true } {
  if (PLAIN_PATH.test(request.path)) return { apps: protectingApps(apps, request.host, request.path) };
  const lenient = lenientReading(request.path);
  if (lenient === undefined) return { ambiguous: true };
  const found = protectingApps(apps, request.host, request.path);
  const ids = (list: App[]) => list.map((a) => a.id).join(",");
  for (const reading of [strictReading(request.path), lenient]) {
    if (ids(protectingApps(apps, request.host, reading)) !== ids(found)) return { ambiguous: true };
  }
  return { apps: found };
}

// ---- the decision ----

export type Decision =
  | { outcome: "malformed"; reason: string }
  | { outcome: "no_app"; request: OriginalRequest }
  /** No valid session: the HTTP layer answers 401, or sends a browser to `loginUrl` (302). */
  | { outcome: "unauthenticated"; request: OriginalRequest; app: App }
  | { outcome: "forbidden"; request: OriginalRequest; app: App; user: SessionUser }
  | { outcome: "allow"; request: OriginalRequest; app: App; user: SessionUser };

/** Judges one request: at most one keyed read (the session), never a write. */
export async function decideForwardAuth(core: Core, header: (name: string) => string | undefined, sessionId: string | undefined): Promise<Decision> {
  const parsed = originalRequest(header);
  if (!parsed.ok) return { outcome: "malformed", reason: parsed.reason };
  const { request } = parsed;
  const found = appsFor(await core.apps.all(), request);
  if ("ambiguous" in found) return { outcome: "malformed", reason: "the path reads differently to different servers and they lead to different apps" };
  // Several apps matching equally decide together; the first (oldest) names the decision (login URL, metrics, audit).
  const [app] = found.apps;
  if (!app) return { outcome: "no_app", request };
  const user = sessionId ? await findSessionUser(core, sessionId) : undefined;
  if (!user) return { outcome: "unauthenticated", request, app };
  const refusing = found.apps.find((a) => !appAdmits(a, user));
  return refusing ? { outcome: "forbidden", request, app: refusing, user } : { outcome: "allow", request, app, user };
}

// ---- the identity headers ----

export const REMOTE_HEADERS = ["Remote-User", "Remote-Email", "Remote-Name", "Remote-Groups", "Remote-Org", "Remote-User-Id"] as const;

// Printable ASCII but `%`, with no space at either end (HTTP would trim it).
const VERBATIM = /^(?:[\x21-\x24\x26-\x7e](?:[\x20-\x24\x26-\x7e]*[\x21-\x24\x26-\x7e])?)?$/;

/**
 * A value as a header can carry it: printable ASCII as it is; every other
 * character, `%` itself and a space at either end percent-encoded as UTF-8,
 * so that percent-decoding any value gives it back exactly.
 */
function headerValue(text: string | null): string {
  if (!text) return "";
  if (VERBATIM.test(text)) return text;
  let out = "";
  const chars = [...text];
  chars.forEach((ch, i) => {
    const code = ch.codePointAt(0)!;
    const edgeSpace = code === 0x20 && (i === 0 || i === chars.length - 1);
    if (code >= 0x20 && code <= 0x7e && code !== 0x25 && !edgeSpace) out += ch;
    else for (const byte of Buffer.from(ch, "utf8")) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  });
  return out;
}

/** The six headers of an allowed request, each present (empty when there is no value). */
export function remoteHeaders(user: SessionUser): Record<(typeof REMOTE_HEADERS)[number], string> {
  return {
    "Remote-User": headerValue(user.externalId ?? user.email ?? user.userId),
    "Remote-Email": headerValue(user.email),
    "Remote-Name": headerValue(user.displayName),
    // A comma inside a group's name is escaped too: the list splits on the commas that separate.
    "Remote-Groups": user.groups.map((g) => headerValue(g).replaceAll(",", "%2C")).join(","),
    "Remote-Org": headerValue(user.orgId),
    "Remote-User-Id": headerValue(user.userId),
  };
}
