// Debian's Apache with mod_auth_openidc, a real OpenID Connect relying party:
// `apacheOidcSite` writes the block the README shows, `apacheAppArgs` the
// command that registers the site, `apacheLogoutUrl` its logout link
// (tests/oidc-apache.test.ts checks the README holds all three verbatim, with
// its placeholder values), and `startApache` wraps the block in what a test
// needs — a private ServerRoot, the modules, a free port, the foreground —
// and stops it on every path.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { track } from "./children";
import { tempDir } from "./temp";

const APACHE = "/usr/sbin/apache2";
const MODULES = "/usr/lib/apache2/modules";

export interface OidcSiteOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The site's own URL, no trailing slash: its redirect URI is <site>/redirect_uri. */
  site: string;
  passphrase: string;
}

/** The README's Apache block: the whole site signs in through ssod. */
export function apacheOidcSite(o: OidcSiteOptions): string {
  return `OIDCProviderMetadataURL ${o.issuer}/.well-known/openid-configuration
OIDCClientID ${o.clientId}
OIDCClientSecret ${o.clientSecret}
OIDCRedirectURI ${o.site}/redirect_uri
OIDCCryptoPassphrase ${o.passphrase}
OIDCScope "openid email profile groups"
OIDCRemoteUserClaim email
<Location />
  AuthType openid-connect
  Require valid-user
</Location>`;
}

/** `ssod app create …` for the site: its callback, and the page its logout link comes back to (a post-logout redirect URI). */
export const apacheAppArgs = (site: string) => [
  "app",
  "create",
  "--name",
  "Wiki",
  "--redirect-uri",
  `${site}/redirect_uri`,
  "--post-logout-redirect-uri",
  `${site}/bye`,
];

/** The site's logout link: mod_auth_openidc ends its session, then ssod's, then comes back to `/bye`. */
export const apacheLogoutUrl = (site: string) => `${site}/redirect_uri?logout=${encodeURIComponent(`${site}/bye`)}`;

export interface Apache {
  url: string;
  log(): string;
  stop(): Promise<void>;
}

/** Apache on `port`, the README's block for the site, and everything proxied to `upstream` (host:port). */
export async function startApache(port: number, site: OidcSiteOptions, upstream: string): Promise<Apache> {
  const dir = tempDir("ssod-apache-");
  // Apache's children run as nobody when the tests run as root: they must reach the folder.
  chmodSync(dir, 0o755);
  const asRoot = process.getuid?.() === 0;
  const config = `ServerRoot ${dir}
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile ${dir}/httpd.pid
DefaultRuntimeDir ${dir}
Mutex file:${dir} default
ErrorLog ${dir}/error.log
LogLevel warn auth_openidc:info
${asRoot ? "User nobody\nGroup nogroup" : ""}
LoadModule mpm_event_module ${MODULES}/mod_mpm_event.so
LoadModule authn_core_module ${MODULES}/mod_authn_core.so
LoadModule authz_core_module ${MODULES}/mod_authz_core.so
LoadModule authz_user_module ${MODULES}/mod_authz_user.so
LoadModule proxy_module ${MODULES}/mod_proxy.so
LoadModule proxy_http_module ${MODULES}/mod_proxy_http.so
LoadModule auth_openidc_module ${MODULES}/mod_auth_openidc.so

${apacheOidcSite(site)}

ProxyPass /redirect_uri !
ProxyPass / http://${upstream}/
`;
  const file = join(dir, "httpd.conf");
  writeFileSync(file, config);
  const child = track(spawn(APACHE, ["-f", file, "-DFOREGROUND"], { stdio: ["ignore", "pipe", "pipe"] }));
  let output = "";
  child.stdout!.on("data", (d) => (output += String(d)));
  child.stderr!.on("data", (d) => (output += String(d)));
  const log = () => `${output}${existsSync(join(dir, "error.log")) ? readFileSync(join(dir, "error.log"), "utf8") : ""}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      // Apache's graceful-stop signal is SIGWINCH; SIGTERM stops it at once, children included.
      child.kill("SIGTERM");
    });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`apache exited (${child.exitCode}): ${log()}`);
    const up = await fetch(`${url}/ssod-apache-probe`, { redirect: "manual" }).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`apache did not start: ${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, log, stop };
}
