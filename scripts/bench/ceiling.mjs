// The ceiling of `npm run bench`: a bare Hono app on @hono/node-server that
// parses a small JSON body and echoes it. Nothing ssod does can be faster.
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
app.post("/echo", async (c) => c.json(await c.req.json()));
app.get("/healthz", (c) => c.text("ok"));
serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" }, (info) => {
  process.stdout.write(`${JSON.stringify({ msg: "ssod listening", url: `http://127.0.0.1:${info.port}` })}\n`);
});
