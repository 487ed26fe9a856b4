// The webhook receiver of `npm run bench`: answers every delivery 200 at
// once and counts them (GET /count), as a receiver that keeps up would.
import { createServer } from "node:http";

let received = 0;
const server = createServer((req, res) => {
  if (req.method === "GET") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ received }));
    return;
  }
  req.resume();
  req.on("end", () => {
    received++;
    res.writeHead(200);
    res.end();
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ msg: "ssod listening", url: `http://127.0.0.1:${server.address().port}` })}\n`);
});
