// Load generation with autocannon: warm up, then measure for a fixed time.
import autocannon from "autocannon";

export interface Figures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  total: number;
}

export interface LoadOptions {
  url: string;
  method: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  /** Gives each request its own body (e.g. a distinct token to redeem). */
  nextBody?: () => string;
  connections: number;
  seconds: number;
}

function run(options: LoadOptions, seconds: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        method: options.method,
        headers: options.headers ?? {},
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(options.nextBody
          ? { requests: [{ method: options.method, setupRequest: (req: autocannon.Request) => ({ ...req, body: options.nextBody!() }) }] }
          : {}),
        connections: options.connections,
        duration: seconds,
        pipelining: 1,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    instance.on("error", () => {});
  });
}

export async function measure(options: LoadOptions, warmupSeconds: number): Promise<Figures> {
  if (warmupSeconds > 0) await run(options, warmupSeconds);
  const result = await run(options, options.seconds);
  return {
    requestsPerSecond: Math.round(result.requests.total / options.seconds),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    total: result.requests.total,
  };
}
