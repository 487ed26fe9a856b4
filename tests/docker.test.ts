// The Dockerfile, checked without a Docker engine: its essentials read with a
// Dockerfile parser, and its runtime stage's exact command line run against
// the built file, laid out as the image would hold it, in an empty folder.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Copy, DockerfileParser, type Instruction } from "dockerfile-ast";
import { track } from "./helpers/children";
import { BUILT } from "./helpers/process";
import { freePort } from "./helpers/sqld";
import { tempDir } from "./helpers/temp";

const dockerfile = DockerfileParser.parse(readFileSync(fileURLToPath(new URL("../Dockerfile", import.meta.url)), "utf8"));
const stages = dockerfile.getFROMs();
const instructions = dockerfile.getInstructions();
const runtimeStart = instructions.indexOf(stages[stages.length - 1]!);
const runtime = instructions.slice(runtimeStart);
const buildStage = instructions.slice(0, runtimeStart);
const only = (keyword: string) => runtime.filter((i) => i.getKeyword() === keyword);
const execForm = (i: Instruction) => JSON.parse(i.getArgumentsContent()!) as string[];

/** The major Node version of a stage's `node:<major>-…` image. */
const nodeMajor = (i: (typeof stages)[number]) => {
  assert.equal(i.getImageName(), "node", i.getArgumentsContent()!);
  return Number(/^(\d+)-/.exec(i.getImageTag() ?? "")?.[1]);
};

describe("the Dockerfile", () => {
  test("builds and runs on Node 24, a supported LTS line (SPEC §4), not the end-of-life Node 20", () => {
    for (const stage of stages) assert.equal(nodeMajor(stage), 24, stage.getArgumentsContent()!);
  });

  test("has a build stage that runs npm ci && npm run build", () => {
    assert.equal(stages.length, 2);
    assert.equal(stages[0]!.getBuildStage(), "build");
    const run = buildStage.filter((i) => i.getKeyword() === "RUN").map((i) => i.getArgumentsContent()!);
    assert.ok(
      run.some((r) => /npm ci\b/.test(r) && /npm run build/.test(r)),
      run.join(" / "),
    );
  });

  test("has a slim runtime stage holding only dist/ssod.mjs, as a non-root user, with /data, port 8080 and a healthcheck", () => {
    assert.match(stages[1]!.getImageTag() ?? "", /slim/);
    const copies = only("COPY");
    assert.equal(copies.length, 1, "one file copied");
    assert.equal((copies[0] as Copy).getFromFlag()?.getValue(), "build");
    assert.match(copies[0]!.getArgumentsContent()!, /^\S*dist\/ssod\.mjs\s+\/app\/ssod\.mjs$/);
    const user = only("USER").at(-1)!.getArgumentsContent()!;
    assert.ok(!["root", "0"].includes(user), `runs as ${user}`);
    assert.deepEqual(execForm(only("VOLUME")[0]!), ["/data"]);
    assert.equal(only("EXPOSE")[0]!.getArgumentsContent(), "8080");
    const env = Object.fromEntries(
      only("ENV").flatMap((e) =>
        (e as unknown as { getProperties(): { getName(): string; getValue(): string }[] }).getProperties().map((p) => [p.getName(), p.getValue()]),
      ),
    );
    assert.equal(env.SSOD_DATABASE_URL, "file:/data/ssod.db");
    assert.match(only("HEALTHCHECK")[0]!.getArgumentsContent()!, /\/healthz/);
    assert.deepEqual(execForm(only("CMD")[0]!), ["node", "/app/ssod.mjs", "serve"]);
  });

  test("the runtime stage's command line serves from an empty folder laid out like the image", async () => {
    const root = tempDir("ssod-image-");
    mkdirSync(join(root, "app"));
    mkdirSync(join(root, "data"));
    copyFileSync(BUILT, join(root, "app/ssod.mjs"));
    const inImage = (text: string) => text.replaceAll("/app/", `${root}/app/`).replaceAll("/data/", `${root}/data/`);
    const env = Object.fromEntries(
      only("ENV").flatMap((e) =>
        (e as unknown as { getProperties(): { getName(): string; getValue(): string }[] }).getProperties().map((p) => [p.getName(), inImage(p.getValue())]),
      ),
    );
    const port = await freePort();
    const [command, ...args] = execForm(only("CMD")[0]!).map(inImage);
    const workdir = inImage(`${only("WORKDIR").at(-1)!.getArgumentsContent()!}/`);
    const child = track(
      spawn(command === "node" ? process.execPath : command!, args, {
        cwd: workdir,
        env: { PATH: process.env.PATH ?? "", HOME: root, ...env, SSOD_PORT: String(port), SSOD_HOST: "127.0.0.1", SSOD_CACHE_DIR: join(root, "cache") },
        stdio: ["ignore", "ignore", "pipe"],
      }),
    );
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += String(d)));
    try {
      let healthy = false;
      for (let i = 0; i < 100 && !healthy; i++) {
        healthy = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!healthy) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(healthy, stderr);
      // The HEALTHCHECK's own command, pointed at this port.
      const probe = JSON.parse(
        only("HEALTHCHECK")[0]!
          .getArgumentsContent()!
          .replace(/^CMD\s+/, ""),
      ) as string[];
      const [probeCommand, ...probeArgs] = probe.map((a) => a.replace("8080", String(port)));
      const result = spawnSync(probeCommand === "node" ? process.execPath : probeCommand!, probeArgs, { timeout: 10_000 });
      assert.equal(result.status, 0, "the healthcheck passes");
      assert.ok(existsSync(join(root, "data/ssod.db")), "the store is on the volume");
      assert.ok(existsSync(join(root, "data/master.key")), "and so is the master key");
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
  });
});
