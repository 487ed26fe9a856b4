// The client's address (SPEC §5 "Client IP"): the TCP peer, or the address a
// trusted proxy put in X-Forwarded-For. Proxies append the address they saw
// on the right, so the list is read from the right: the leftmost entries are
// whatever the client wrote, and never trusted.
import { BlockList, isIP } from "node:net";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";

function normalise(ip: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip) ? ip.slice(7) : ip;
}

function trustList(rules: string[]): BlockList {
  const list = new BlockList();
  for (const rule of rules) {
    const [address, prefix] = rule.split("/") as [string, string | undefined];
    const family = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return list;
}

export function clientIp(trustProxy: boolean | string[]): MiddlewareHandler<AppEnv> {
  const trusted = Array.isArray(trustProxy) ? trustList(trustProxy) : undefined;
  const isTrusted = (ip: string) => trustProxy === true || (trusted?.check(ip, isIP(ip) === 6 ? "ipv6" : "ipv4") ?? false);
  return async (c, next) => {
    const peer = normalise(c.env?.incoming?.socket?.remoteAddress ?? "127.0.0.1");
    let ip = peer;
    if (trustProxy !== false && isTrusted(peer)) {
      const hops = (c.req.header("x-forwarded-for") ?? "")
        .split(",")
        .map((h) => normalise(h.trim()))
        .filter((h) => isIP(h) > 0);
      // `true`: the peer is the one trusted proxy, and the client is the
      // address it appended (the rightmost). A list: the rightmost address
      // that is not one of our proxies.
      const client = trustProxy === true ? hops.at(-1) : hops.findLast((h) => !isTrusted(h));
      ip = client ?? peer;
    }
    c.set("clientIp", ip);
    await next();
  };
}
