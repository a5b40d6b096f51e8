// The benchmark's floor: the hit counter's answer from an in-memory counter, no Redis,
// nothing else. Node's http under the same autocannon load on the same machine cannot
// answer faster than this, so its p99 is the lowest p99 any Node service can show here.
"use strict";
const http = require("http");

let hits = 0;
http.createServer((req, res) => {
    const body = `I have been hit ${++hits} times since deployment.\n`;
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
}).listen(Number(process.env.PORT), process.env.HOST || "127.0.0.1");
