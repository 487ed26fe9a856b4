// A load balancer in front of several ssod instances, as a deployment has
// one: a plain HTTP proxy whose `pick` chooses the instance for each request
// (by path, by turn), and which notes who served what.
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Balancer {
  url: string;
  /** Which upstream (its index) serves a request for `path`; round robin unless set. */
  pick: (path: string) => number | undefined;
  /** Every request, and the upstream that served it. */
  served: { path: string; upstream: number }[];
  close(): Promise<void>;
}

export async function startBalancer(upstreams: readonly string[], port = 0): Promise<Balancer> {
  let turn = 0;
  const balancer = { served: [], pick: () => undefined } as unknown as Balancer;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const index = balancer.pick(path) ?? turn++ % upstreams.length;
    balancer.served.push({ path, upstream: index });
    const target = new URL(req.url ?? "/", upstreams[index]);
    const forward = request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return Object.assign(balancer, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
