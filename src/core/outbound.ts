// Fetching a URL under ssod's outbound rules (SPEC §5 "Caller JWTs", §9):
// https, or plain http to a loopback host only (unless the caller allows any
// http, as SSOD_WEBHOOK_ALLOW_HTTP will); redirects never followed (a 3xx is
// answered as it is, for the caller to treat as a failure); a body over the
// limit refused while it is read; link-local addresses (cloud metadata
// services live there) never connected to; a time limit on the whole exchange.
//
// node:http rather than fetch: its `lookup` hook sees the address a name
// resolves to at connect time, so a DNS answer that changes between a check
// and the connection (rebinding) cannot slip past; and it does not inflate
// compressed bodies, so the byte limit is the limit of what is kept.
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";

export interface OutboundRules {
  /** Plain http to any host; otherwise to a loopback host only. */
  allowHttp: boolean;
  /** The longest body read; a longer one is refused while it is read. */
  maxBytes: number;
  /** The whole exchange, body included. */
  timeoutMs: number;
  /** Resolves host names (`dns.lookup` unless given): tests map names of their own. */
  lookup?: LookupFunction;
  /**
   * A keep-alive pool from `outboundAgent`, used only by fetchOutbound under
   * the same rules: each of its sockets was connected through the guarded
   * lookup, so a reused one is as checked as a new one. Without it every
   * fetch connects afresh.
   */
  agent?: HttpAgent;
}

/** A keep-alive pool for fetches of one origin (webhook deliveries): at most `sockets` connections. */
export function outboundAgent(url: URL, sockets: number): HttpAgent {
  const Agent = url.protocol === "https:" ? HttpsAgent : HttpAgent;
  return new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
}

/** A network error on a pooled connection the other end had already closed: the request never reached it, and may be sent again. */
export function staleConnection(error: unknown): boolean {
  return (error as { reusedSocket?: boolean }).reusedSocket === true && ["ECONNRESET", "EPIPE"].includes((error as { code?: string }).code ?? "");
}

/** A fetch refused by the rules (the URL, the address it resolves to, the body's size). */
export class OutboundError extends Error {
  override readonly name = "OutboundError";
}

const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet("169.254.0.0", 16, "ipv4");
LINK_LOCAL.addSubnet("fe80::", 10, "ipv6");
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** Whether `address` (an IP; IPv4-mapped IPv6 forms included, BlockList maps them) is in `list`. */
function listed(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? "ipv6" : "ipv4");
}

const LINK_LOCAL_WORDS = "must not name a link-local address (169.254.0.0/16, fe80::/10)";
const HTTPS_WORDS = "must be https (plain http only for a loopback host: 127.0.0.0/8, ::1, localhost or a name under .localhost)";

/** localhost and every name under it: loopback by RFC 6761 §6.3 (the lookup still checks where it resolves). */
const isLocalhostName = (host: string) => host === "localhost" || host.endsWith(".localhost");

/**
 * Why the rules forbid fetching `target`, in words for whoever set it
 * ("must be https …"); undefined when they allow it. Judges the URL's text
 * only: what a host name resolves to is checked at connect time.
 */
export function outboundUrlProblem(target: string | URL, allowHttp: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return "must be an absolute URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must be an https URL";
  // Kept in the clear and shown by every GET: a credential belongs in a secret, not in a URL.
  if (url.username || url.password) return "must not carry a user name or password (user:password@)";
  if (url.hash || url.href.endsWith("#")) return "must not have a fragment (#…)";
  // URL has already turned 0xa9fe0101, ::ffff:169.254.1.1 and the like into their plain forms.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (listed(LINK_LOCAL, host)) return LINK_LOCAL_WORDS;
  if (url.protocol === "http:" && !allowHttp && !isLocalhostName(host) && !listed(LOOPBACK, host)) return HTTPS_WORDS;
  return undefined;
}

/**
 * Resolves as `resolve` does, but refuses a name any of whose addresses is
 * link-local, or, for http to loopback only, not loopback ("localhost"
 * pointed elsewhere). Node connects to what this answers, nothing else.
 */
function guardedLookup(resolve: LookupFunction, loopbackOnly: boolean): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, resolved) => {
      if (error) return callback(error, "");
      const addresses = resolved as LookupAddress[];
      if (addresses.length === 0) return callback(new OutboundError(`${hostname} resolves to no address`), "");
      const refused = addresses.find((a) => listed(LINK_LOCAL, a.address) || (loopbackOnly && !listed(LOOPBACK, a.address)));
      if (refused) {
        const what = listed(LINK_LOCAL, refused.address) ? "a link-local address" : "not a loopback address";
        return callback(new OutboundError(`${hostname} resolves to ${refused.address}, ${what}: not fetched`), "");
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

function responseHeaders(response: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    for (const one of Array.isArray(value) ? value : [value ?? ""]) headers.append(name, one);
  }
  return headers;
}

// Statuses whose Response may not have a body.
const NO_BODY = new Set([204, 205, 304]);

/**
 * Fetches `target` under `rules`, as `fetch` would but never following a
 * redirect: the answer as a Response, whatever its status. Rejects with an
 * OutboundError when the rules refuse, with `init.signal`'s reason (or a
 * TimeoutError) when aborted or out of time, else with the network's error.
 */
export function fetchOutbound(
  target: string | URL,
  init: { method?: string; headers?: Headers | Record<string, string>; body?: string; signal?: AbortSignal },
  rules: OutboundRules,
): Promise<Response> {
  const url = new URL(target);
  const problem = outboundUrlProblem(url, rules.allowHttp);
  if (problem) return Promise.reject(new OutboundError(`${url.origin}: the URL ${problem}`));
  const timeout = AbortSignal.timeout(rules.timeoutMs);
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  const lookup = guardedLookup(rules.lookup ?? (dnsLookup as LookupFunction), url.protocol === "http:" && !rules.allowHttp);

  return new Promise<Response>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    // A fresh connection unless the rules bring their own pool: a socket of any other pool might have been connected without the guard.
    const req = request(url, { method: init.method ?? "GET", headers: Object.fromEntries(new Headers(init.headers)), agent: rules.agent ?? false, lookup });
    const settle = (outcome: () => void) => {
      signal.removeEventListener("abort", onAbort);
      outcome();
    };
    const fail = (error: unknown) => {
      req.destroy();
      settle(() => reject(error));
    };
    const onAbort = () => fail(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    let answered = false;
    req.on("error", (error: Error) => fail(answered ? error : Object.assign(error, { reusedSocket: req.reusedSocket })));
    req.on("response", (response) => {
      answered = true;
      response.on("error", fail);
      const tooLarge = () => fail(new OutboundError(`${url.origin}: the answer is over ${rules.maxBytes} bytes: not read`));
      if (Number(response.headers["content-length"]) > rules.maxBytes) return tooLarge();
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > rules.maxBytes) tooLarge();
        else chunks.push(chunk);
      });
      response.on("end", () => {
        const status = response.statusCode ?? 0;
        settle(() => {
          try {
            resolve(new Response(NO_BODY.has(status) ? null : Buffer.concat(chunks), { status, headers: responseHeaders(response) }));
          } catch (error) {
            // A status Response cannot carry (600 and up), or a header it refuses.
            reject(new OutboundError(`${url.origin}: an answer that cannot be read (${String(error)})`));
          }
        });
      });
    });
    req.end(init.body);
  });
}
