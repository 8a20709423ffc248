// aedes as a soak peer, set up as a Node user would: plain TCP and WebSocket (ws with its
// defaults, as aedes' README shows), in-memory persistence, a password check with bcryptjs
// for bcrypt users. aedes has no limit options: this is its whole configuration.
// Usage: node bench/lib/soak-aedes.mjs <port> <wsPort> <users.json>
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { Aedes } from 'aedes';
import bcrypt from 'bcryptjs';
import { WebSocketServer, createWebSocketStream } from 'ws';

const [port, wsPort] = process.argv.slice(2, 4).map(Number);
/** { username: password-or-bcrypt-hash } */
const users = JSON.parse(readFileSync(process.argv[4], 'utf8'));

const aedes = await Aedes.createBroker({
  authenticate(_client, username, password, done) {
    const known = users[username];
    const given = password?.toString() ?? '';
    if (known === undefined) return done(null, false);
    if (known.startsWith('$2')) bcrypt.compare(given, known).then((ok) => done(null, ok), () => done(null, false));
    else done(null, known === given);
  },
});
const server = createServer(aedes.handle);
server.listen(port, '127.0.0.1');
const http = createHttpServer();
const wss = new WebSocketServer({ server: http });
wss.on('connection', (ws) => aedes.handle(createWebSocketStream(ws)));
http.listen(wsPort, '127.0.0.1', () => console.log(`aedes listening on ${port}, ws ${wsPort}`));

function stop() {
  server.close();
  http.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
