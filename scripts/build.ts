// Builds dist/ssod.mjs: one file holding the server, its SQL migrations, the
// store worker and the libSQL native bindings for linux-x64 (glibc and musl).
// The bindings and RapiDoc's script are assets: a comment after the code, read
// only when needed (src/assets.ts).
//
// libSQL loads its native binding with a `require` whose name is computed at
// run time, which esbuild cannot follow. Both bundles (the main one reads,
// the store worker writes) rewrite that loader to open the binding the main
// thread wrote to a cache folder (src/store/native-binding.ts).

import { createHash } from "node:crypto";
import { appendFileSync, chmodSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build, type Plugin } from "esbuild";
import { ASSETS_MARKER, DOCS_ASSET, libsqlAsset } from "../src/assets";
import { readMigrationsFolder } from "../src/store/migrations";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const out = join(root, "dist", "ssod.mjs");

/** The libSQL targets embedded in the build. */
export const BINDING_TARGETS = ["linux-x64-gnu", "linux-x64-musl"];

const NATIVE_LOADER = /function requireNative\(\) \{[\s\S]*?\n\}\n/;

const libsqlLoaderRewrite: Plugin = {
  name: "libsql-native-loader",
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]libsql[\\/]index\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (!NATIVE_LOADER.test(source)) throw new Error(`libsql's native loader has changed shape in ${args.path}: update scripts/build.ts`);
      const loader = `function requireNative() {
  // The writer thread gets the path as workerData; the main thread (reads) as a global.
  const binding = require("node:worker_threads").workerData?.libsqlBinding ?? globalThis.__ssodLibsqlBinding;
  if (!binding) throw new Error("ssod: no libSQL binding path was set before libsql was loaded");
  const module = { exports: {} };
  process.dlopen(module, binding);
  return module.exports;
}
`;
      return { contents: source.replace(NATIVE_LOADER, loader), loader: "js" };
    });
  },
};

// ws (behind @libsql/client's WebSocket transport) tries these optional
// native helpers in a try/catch. They are not installed: bundle a module that
// fails to load, so no require() of a missing file is left for run time
// (which, in the standalone executable, Node also warns about).
const absentOptionalModules: Plugin = {
  name: "absent-optional-modules",
  setup(b) {
    b.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (args) => ({ path: args.path, namespace: "absent" }));
    b.onLoad({ filter: /.*/, namespace: "absent" }, (args) => ({ contents: `throw new Error("${args.path} is not bundled");`, loader: "js" }));
  },
};

// oidc-provider names its models (and the adapter's kinds) after its classes,
// so its names must survive minifying: it is bundled on its own with
// esbuild's keepNames, and that bundle takes its place in the main one. The
// rest of the code goes without: keepNames wraps every function and class it
// makes in a call that names it, and Hono makes a dozen closures per request
// (≈ 7 % of the main thread's time under load).
const OIDC_PROVIDER = "oidc-provider";

async function oidcProviderBundle(minify: boolean): Promise<Plugin> {
  const entry = require.resolve(OIDC_PROVIDER);
  const bundled = await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    write: false,
    minify,
    keepNames: true,
    legalComments: "none",
    // Shared with ssod's own code: bundled once, by the main build.
    external: ["jose"],
    logLevel: "warning",
  });
  return {
    name: "oidc-provider-with-names",
    setup(b) {
      b.onResolve({ filter: /^oidc-provider$/ }, () => ({ path: OIDC_PROVIDER, namespace: "oidc-provider-with-names" }));
      b.onLoad({ filter: /.*/, namespace: "oidc-provider-with-names" }, () => ({
        contents: bundled.outputFiles[0]!.text,
        loader: "js",
        resolveDir: dirname(entry),
      }));
    },
  };
}

function embeddedPlugin(payload: object): Plugin {
  return {
    name: "embedded-payloads",
    setup(b) {
      b.onLoad({ filter: /[\\/]src[\\/]embedded\.ts$/ }, () => ({
        contents: `export const embedded = ${JSON.stringify(payload)};`,
        loader: "js",
      }));
    },
  };
}

function bindingPath(target: string): string {
  return require.resolve(`@libsql/${target}/index.node`);
}

/** The large payloads, gzipped, by name: kept out of the code (src/assets.ts). */
export type Assets = Map<string, Buffer>;

let packed: { assets: Assets; sha256: Map<string, string> } | undefined;

/**
 * Gzipped once per process: `npm test` builds the single file and then the
 * executable from the same assets. Beside each, the SHA-256 of its
 * uncompressed bytes: the code carries it, and loads a binding written to
 * disk only when the file matches it (src/store/native-binding.ts).
 */
function packAssets(): { assets: Assets; sha256: Map<string, string> } {
  const files: [string, string][] = [
    [DOCS_ASSET, require.resolve("rapidoc/dist/rapidoc-min.js")],
    ...BINDING_TARGETS.map((t): [string, string] => [libsqlAsset(t), bindingPath(t)]),
  ];
  if (!packed) {
    const raw = files.map(([name, path]): [string, Buffer] => [name, readFileSync(path)]);
    packed = {
      assets: new Map(raw.map(([name, bytes]) => [name, gzipSync(bytes, { level: 9 })])),
      sha256: new Map(raw.map(([name, bytes]) => [name, createHash("sha256").update(bytes).digest("hex")])),
    };
  }
  return packed;
}

/** What the single file carries in its code besides ssod itself (src/embedded.ts). */
async function payload(minify: boolean, sha256: Map<string, string>, trailer: Trailer | undefined) {
  const worker = await build({
    entryPoints: [join(root, "src/store/local-worker.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    write: false,
    minify,
    legalComments: "none",
    plugins: [libsqlLoaderRewrite],
    logLevel: "warning",
  });
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  return {
    version: pkg.version,
    migrations: readMigrationsFolder(new URL("../drizzle/", import.meta.url)),
    storeWorker: worker.outputFiles[0]!.text,
    assets: Object.fromEntries(sha256),
    ...(trailer ? { trailer: trailer.places } : {}),
  };
}

interface Trailer {
  text: string;
  /** Where each asset's base64 starts, counted back from the end of the file, and its length. */
  places: Record<string, [fromEnd: number, length: number]>;
}

/** The comment after dist/ssod.mjs's code: one `name base64(gzip)` line per asset (src/assets.ts reads one line by its place). */
function trailerOf(assets: Assets): Trailer {
  let text = ASSETS_MARKER;
  const starts: [string, number, number][] = [];
  for (const [name, packed] of assets) {
    const line = packed.toString("base64");
    text += `${name} `;
    starts.push([name, text.length, line.length]);
    text += `${line}\n`;
  }
  text += "*/\n";
  return { text, places: Object.fromEntries(starts.map(([name, at, length]) => [name, [text.length - at, length]])) };
}

export interface BuildOptions {
  /** false keeps names readable in CPU profiles (`npm run build -- --no-minify`). */
  minify?: boolean;
  /**
   * "esm" for dist/ssod.mjs, its assets in a comment after the code; "cjs" for
   * the standalone executable (Node's SEA, on 20 and 24, runs CommonJS only), which takes
   * them as SEA assets.
   */
  format?: "esm" | "cjs";
  outfile?: string;
}

export async function buildSingleFile(options: BuildOptions = {}): Promise<{ outfile: string; assets: Assets }> {
  const minify = options.minify ?? true;
  const format = options.format ?? "esm";
  const outfile = options.outfile ?? out;
  const started = performance.now();
  mkdirSync(dirname(outfile), { recursive: true });
  const { assets, sha256 } = packAssets();
  const trailer = format === "esm" ? trailerOf(assets) : undefined;
  await build({
    entryPoints: [join(root, "src/main.ts")],
    bundle: true,
    platform: "node",
    format,
    target: "node20",
    outfile,
    minify,
    legalComments: "none",
    // Bundled CommonJS dependencies call require() for Node's built-ins; an ES module has none of its own.
    ...(format === "esm"
      ? { banner: { js: 'import { createRequire as __ssodCreateRequire } from "node:module"; const require = __ssodCreateRequire(import.meta.url);' } }
      : {}),
    plugins: [embeddedPlugin(await payload(minify, sha256, trailer)), await oidcProviderBundle(minify), libsqlLoaderRewrite, absentOptionalModules],
    // depd (koa's, inside the oidc-provider bundle) builds deprecated wrappers with eval: esbuild says
    // nothing of it within node_modules, but that bundle is no longer read from there.
    logOverride: { "direct-eval": "silent" },
    // In CommonJS, import.meta is empty: only the from-source fallbacks read it, never the built file.
    logLevel: format === "cjs" ? "error" : "warning",
  });
  if (trailer) appendFileSync(outfile, trailer.text);
  chmodSync(outfile, 0o755);
  const mb = (statSync(outfile).size / 1e6).toFixed(1);
  process.stderr.write(`built ${outfile} (${mb} MB) in ${Math.round(performance.now() - started)} ms\n`);
  return { outfile, assets };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildSingleFile({ minify: !process.argv.includes("--no-minify") });
}
