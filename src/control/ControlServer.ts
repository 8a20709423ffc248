import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Broker } from '../broker/Broker';
import type { Logger } from '../log/Logger';
import { ControlApi, ControlRequestError } from './ControlApi';
import { TopicExplorer } from './TopicExplorer';

/** A publish of 64 KiB as JSON, with room to spare; anything larger is refused unread. */
const MAX_REQUEST_BYTES = 256 * 1024;

export interface ControlServerOptions {
  /** Where the URL and the secret are written, mode 0600 (only the broker's user and root read it). */
  file: string;
  /** Topics the explorer's "last message" cache holds while a page watches. */
  cacheSize: number;
}

/**
 * The broker's control endpoint for LuCI's topic explorer: HTTP on 127.0.0.1, a random port,
 * and a secret made at start. Both are written to `file`, which only root (rpcd's plugin)
 * and the broker's own user can read. Every request must start with the secret on its
 * first line, then the JSON arguments; anything else is refused with 401. LuCI never talks
 * to it directly: rpcd checks the LuCI session and its ACL, then the plugin forwards here.
 */
export class ControlServer {
  readonly explorer: TopicExplorer;
  private readonly api: ControlApi;
  private readonly token = randomBytes(32).toString('hex');
  private server: Server | undefined;

  constructor(
    broker: Broker,
    private readonly options: ControlServerOptions,
    private readonly log: Logger,
  ) {
    this.explorer = new TopicExplorer(broker, options.cacheSize);
    this.api = new ControlApi(broker, this.explorer);
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    // A handful of rpcd calls at a time; a stalled local client is dropped quickly.
    server.maxConnections = 16;
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const { file } = this.options;
    const temp = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(temp, `http://127.0.0.1:${this.port}/\n${this.token}\n`, { mode: 0o600 });
      renameSync(temp, file);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.log.info(`Control endpoint for LuCI on 127.0.0.1:${this.port} (${file}).`);
  }

  async stop(): Promise<void> {
    this.explorer.stop();
    try {
      unlinkSync(this.options.file);
    } catch {
      // already gone
    }
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const reply = (status: number, body: Record<string, unknown>): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), Connection: 'close' });
      res.end(text);
    };
    if (req.method !== 'POST') return reply(405, { error: 'POST only' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > MAX_REQUEST_BYTES) return;
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        // Refused unread; the socket goes once the answer is out.
        res.once('finish', () => req.destroy());
        reply(413, { error: `request over ${MAX_REQUEST_BYTES} bytes` });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_REQUEST_BYTES) return;
      const body = Buffer.concat(chunks, size);
      const newline = body.indexOf(0x0a);
      const secret = newline < 0 ? body : body.subarray(0, newline);
      if (!this.isToken(secret)) return reply(401, { error: 'not authorised' });
      const name = (req.url ?? '/').slice(1);
      const method = Object.hasOwn(this.api.methods, name) ? this.api.methods[name] : undefined;
      if (!method) return reply(404, { error: `unknown method ${name}` });
      let args: unknown;
      try {
        const text = newline < 0 ? '' : body.subarray(newline + 1).toString('utf8').trim();
        args = text === '' ? {} : JSON.parse(text);
      } catch {
        return reply(200, { error: 'invalid request: not JSON' });
      }
      if (typeof args !== 'object' || args === null || Array.isArray(args)) return reply(200, { error: 'invalid request: expected a JSON object' });
      try {
        reply(200, method(args as Record<string, unknown>));
      } catch (err) {
        if (err instanceof ControlRequestError) return reply(200, { error: err.message });
        this.log.error(`Control request ${req.url} failed: ${String(err)}`);
        reply(200, { error: 'internal error' });
      }
    });
  }

  private isToken(candidate: Buffer): boolean {
    const expected = Buffer.from(this.token);
    return candidate.length === expected.length && timingSafeEqual(candidate, expected);
  }
}
