// Debian's nginx (auth_request) and Caddy (forward_auth) in front of an app,
// asking ssod's GET /v1/forward-auth about every request, as the README
// documents them: `nginxSite` and `caddySite` write the configs the README
// shows (tests/forward-auth-proxies.test.ts checks the README holds them
// verbatim, with its placeholder names), and the starters wrap them in what a
// test needs — a private prefix, pid and log paths, a free port, the
// foreground — and stop them on every path (track(), and stop()).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { join } from "node:path";
import { track } from "./children";
import { freePort } from "./sqld";
import { tempDir } from "./temp";

const NGINX = "/usr/sbin/nginx";
const CADDY = "/usr/bin/caddy";

const REMOTE = ["Remote-User", "Remote-Email", "Remote-Name", "Remote-Groups", "Remote-Org", "Remote-User-Id"];
/** Remote-User-Id → $ssod_user_id */
const variable = (header: string) => `$ssod_${header.slice("Remote-".length).toLowerCase().replaceAll("-", "_")}`;

export interface SiteOptions {
  /** nginx `listen` parameters, or Caddy's site address. */
  listen: string;
  /** nginx `server_name`. */
  serverName?: string;
  /** host:port of ssod. */
  ssod: string;
  /** host:port of the protected app. */
  upstream: string;
  /** nginx: the certificate and key files (the README's block; the tests speak plain HTTP). */
  tls?: { certificate: string; key: string };
}

/** The nginx server block of the README (inside `http { }`; nginx ≥ 1.22 with the auth_request module, as Debian builds it). */
export function nginxSite(o: SiteOptions): string {
  return `# ":port" of the Host header, if any ($host never has it)
map $http_host $ssod_port {
    default "";
    "~(?<ssod_p>:[0-9]+)$" $ssod_p;
}

server {
    listen ${o.listen};
    server_name ${o.serverName ?? "_"};
${o.tls ? `    ssl_certificate ${o.tls.certificate};\n    ssl_certificate_key ${o.tls.key};\n` : ""}
    # The subrequest to ssod: it sets every header ssod reads.
    location = /ssod-forward-auth {
        internal;
        proxy_pass http://${o.ssod}/v1/forward-auth;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        # $host, not $http_host: the host nginx chose the server block by
        # (an absolute request line or a missing Host header would otherwise
        # let the client pick the URL ssod judges).
        proxy_set_header X-Original-URL $scheme://$host$ssod_port$request_uri;
        proxy_set_header X-Original-Method $request_method;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        # nginx passes the client's headers on: a client's X-Forwarded-Host
        # would make ssod read the Caddy/Traefik form, chosen by the client.
        # An empty value removes the header.
        proxy_set_header X-Forwarded-Host "";
        proxy_set_header X-Forwarded-Method "";
        proxy_set_header X-Forwarded-Proto "";
        proxy_set_header X-Forwarded-Uri "";
        # ssod's answer headers (Remote-Groups) may be longer than one page.
        proxy_buffer_size 16k;
        proxy_buffers 4 16k;
    }

    location / {
        auth_request /ssod-forward-auth;
        # On a 401, ssod's Location is the login URL, return_to encoded.
        auth_request_set $ssod_login $upstream_http_location;
${REMOTE.map((h) => `        auth_request_set ${variable(h)} $upstream_http_${h.toLowerCase().replaceAll("-", "_")};`).join("\n")}
        # Setting them replaces whatever the client sent under these names
        # (in any case; nginx drops remote_user-style names by default).
${REMOTE.map((h) => `        proxy_set_header ${h} ${variable(h)};`).join("\n")}
        proxy_set_header Host $host$ssod_port;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        error_page 401 = @ssod_401;
        proxy_pass http://${o.upstream};
    }

    # No session: a browser goes to the portal, an API client gets the 401.
    location @ssod_401 {
        if ($ssod_login = "") { return 401; }
        if ($http_accept ~* "application/json") { return 401; }
        return 302 $ssod_login;
    }
}
`;
}

/** The Caddyfile site of the README (Caddy ≥ 2.6). */
export function caddySite(o: SiteOptions & { bind?: string }): string {
  return `${o.listen} {
${o.bind ? `\tbind ${o.bind}\n` : ""}\t# route keeps this order: outside it, the Caddyfile would run
\t# request_header after forward_auth and delete ssod's values.
\troute {
\t\t# No client-sent identity, in any case or spelling (Go keeps
\t\t# Remote_User apart from Remote-User), and no nginx-form headers.
\t\trequest_header -Remote-*
\t\trequest_header -Remote_*
\t\trequest_header -X-Original-*
\t\tforward_auth ${o.ssod} {
\t\t\turi /v1/forward-auth
\t\t\tcopy_headers ${REMOTE.join(" ")}
\t\t}
\t\treverse_proxy ${o.upstream}
\t}
}
`;
}

export interface ReverseProxy {
  /** The port it listens on, on 127.0.0.1. */
  port: number;
  dir: string;
  child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

async function listening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before listening:\n${log()}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not listening on ${port}:\n${log()}`);
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
      child.once("exit", () => {
        clearTimeout(force);
        resolve();
      });
      child.kill("SIGTERM");
    });
}

async function start(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string> },
  port: number,
  readLog: () => string,
): Promise<ReverseProxy> {
  const child = track(spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] }));
  let output = "";
  child.stdout!.on("data", (d) => (output += String(d)));
  child.stderr!.on("data", (d) => (output += String(d)));
  const log = () => `${output}${readLog()}`;
  const stop = stopper(child);
  try {
    await listening(port, child, log);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, dir: options.cwd, child, log, stop };
}

const readOr = (path: string) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
};

/** nginx in the foreground, one process, every path it writes inside its own folder. */
export async function startNginx(o: { ssod: string; upstream: string; serverName?: string }): Promise<ReverseProxy> {
  const dir = tempDir("ssod-nginx-");
  mkdirSync(join(dir, "tmp"));
  const port = await freePort();
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/tmp/body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;
${nginxSite({ listen: `127.0.0.1:${port}`, ...o })}}
`,
  );
  // -e stderr: no log file is opened before the config is read.
  return start(NGINX, ["-p", `${dir}/`, "-c", conf, "-e", "stderr"], { cwd: dir, env: { PATH: process.env.PATH ?? "" } }, port, () =>
    readOr(join(dir, "error.log")),
  );
}

/** Caddy in the foreground (`caddy run`), no admin endpoint, no automatic HTTPS, its state in its own folder. */
export async function startCaddy(o: { ssod: string; upstream: string }): Promise<ReverseProxy> {
  const dir = tempDir("ssod-caddy-");
  const port = await freePort();
  const conf = join(dir, "Caddyfile");
  writeFileSync(
    conf,
    `{
\tadmin off
\tauto_https off
\tstorage file_system ${dir}/data
\tlog {
\t\toutput file ${dir}/caddy.log
\t\tlevel INFO
\t}
}

${caddySite({ listen: `http://:${port}`, bind: "127.0.0.1", ...o })}`,
  );
  // Caddy writes under HOME and the XDG folders even with admin off.
  const env = { PATH: process.env.PATH ?? "", HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "config"), XDG_DATA_HOME: join(dir, "data") };
  return start(CADDY, ["run", "--config", conf, "--adapter", "caddyfile"], { cwd: dir, env }, port, () => readOr(join(dir, "caddy.log")));
}

// ---- the protected app, and a client that writes exactly the bytes it is told ----

export interface Echo {
  port: number;
  /** Every request it answered, in order. */
  seen: { method: string; url: string; rawHeaders: string[]; body: string }[];
  close(): Promise<void>;
}

/** The protected app: answers 200 with what it received (method, URL, headers as sent, body) as JSON. */
export function startEcho(): Promise<Echo> {
  const seen: Echo["seen"] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += String(d)));
    req.on("end", () => {
      const entry = { method: req.method ?? "", url: req.url ?? "", rawHeaders: req.rawHeaders, body };
      seen.push(entry);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(entry));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        seen,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      }),
    ),
  );
}

export interface RawAnswer {
  status: number;
  headers: [string, string][];
  body: string;
  header(name: string): string | undefined;
}

/**
 * One request on its own connection, written as given: the request target
 * (origin or absolute form), any Host (or none), any header spelling.
 */
export function rawRequest(
  port: number,
  request: { method?: string; target: string; headers: [string, string][]; body?: string; version?: "1.0" | "1.1" },
): Promise<RawAnswer> {
  const body = request.body ?? "";
  const lines = [
    `${request.method ?? "GET"} ${request.target} HTTP/${request.version ?? "1.1"}`,
    ...request.headers.map(([k, v]) => `${k}: ${v}`),
    "Connection: close",
    ...(body ? [`Content-Length: ${Buffer.byteLength(body)}`] : []),
  ];
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.once("error", reject);
    socket.once("close", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return reject(new Error(`no answer: ${JSON.stringify(text)}`));
      const [statusLine, ...headerLines] = text.slice(0, end).split("\r\n");
      const headers = headerLines.map((l): [string, string] => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]);
      let rest = Buffer.from(text.slice(end + 4), "latin1");
      if (headers.some(([k, v]) => k.toLowerCase() === "transfer-encoding" && /chunked/i.test(v))) {
        const parts: Buffer[] = [];
        for (let at = 0; ; ) {
          const eol = rest.indexOf("\r\n", at);
          const size = Number.parseInt(rest.subarray(at, eol).toString(), 16);
          if (!(size > 0)) break;
          parts.push(rest.subarray(eol + 2, eol + 2 + size));
          at = eol + 2 + size + 2;
        }
        rest = Buffer.concat(parts);
      }
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1] ?? 0),
        headers,
        body: rest.toString("utf8"),
        header: (name) => headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1],
      });
    });
    // Written, not ended: the server closes the connection after its answer (Connection: close).
    socket.write(`${lines.join("\r\n")}\r\n\r\n${body}`);
  });
}
