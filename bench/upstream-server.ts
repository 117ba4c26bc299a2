/** The benchmark's provider: answers every request at once with a small JSON body. */
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 0);
const body = JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', choices: [] });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log('upstream listening'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
