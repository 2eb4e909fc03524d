// A Fedify (https://fedify.dev) inbox for the side-by-side figure of tests/bench/bench_inbox.py: it checks the
// draft-cavage signature and Digest (keys fetched once from the poster's actor document, then cached), parses
// the activity and runs a listener that counts Creates; it stores nothing. Answers 202 "accepted".
// Usage: node server.mjs PORT
import http from "node:http";
import { Create, createFederation, MemoryKvStore, Person } from "@fedify/fedify";
import { configure, getConsoleSink } from "@logtape/logtape";
if (process.env.FEDIFY_DEBUG) await configure({ sinks: { console: getConsoleSink() }, loggers: [{ category: "fedify", sinks: ["console"], lowestLevel: "debug" }] });

const port = Number(process.argv[2]);
let created = 0;

const federation = createFederation({ kv: new MemoryKvStore(), allowPrivateAddress: true });
federation.setActorDispatcher("/users/{identifier}", (ctx, identifier) =>
  identifier === "bench"
    ? new Person({ id: ctx.getActorUri(identifier), preferredUsername: identifier, inbox: ctx.getInboxUri(identifier) })
    : null,
);
federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Create, () => {
    created += 1;
  })
  .onError((_ctx, error) => console.error("inbox error:", error));

function toRequest(incoming, body) {
  const url = `http://${incoming.headers.host}${incoming.url}`;
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) headers.set(name, String(value));
  const method = incoming.method ?? "GET";
  return new Request(url, { method, headers, body: method === "GET" || method === "HEAD" ? undefined : body });
}

http
  .createServer((incoming, outgoing) => {
    const chunks = [];
    incoming.on("data", (chunk) => chunks.push(chunk));
    incoming.on("end", async () => {
      if (incoming.url === "/") {
        outgoing.writeHead(200, { "content-type": "text/plain" }).end(`created ${created}\n`);
        return;
      }
      const response = await federation.fetch(toRequest(incoming, Buffer.concat(chunks)), { contextData: undefined });
      const text = response.status === 202 ? "accepted" : await response.text();
      outgoing.writeHead(response.status, { "content-type": "text/plain" }).end(text);
    });
  })
  .listen(port, "127.0.0.1", () => console.log(`fedify peer listening on 127.0.0.1:${port}`));
