// aedes as a benchmark peer: the usual Node.js broker on a plain `net` server, in-memory
// persistence (the default, i.e. nothing written to disk), anonymous, no WebSocket.
// Usage: node bench/aedes-broker.mjs <port> [host]
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2]);
const host = process.argv[3] ?? '127.0.0.1';
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node bench/aedes-broker.mjs <port> [host]');
  process.exit(2);
}

const aedes = await Aedes.createBroker();
const server = createServer(aedes.handle);
server.listen(port, host, () => console.log(`aedes listening on ${host}:${port}`));

function stop() {
  server.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
