import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectAsync } from 'mqtt';
import type { Security } from '../../src/auth/Security';
import { LOG_LEVELS, Logger, type LogLevel } from '../../src/log/Logger';
import { startBroker } from '../helpers/broker';

/** A logger that records which levels it was asked to log, on or off. */
class CountingLogger extends Logger {
  readonly asked: LogLevel[] = [];
  override log(level: LogLevel, message: string): void {
    this.asked.push(level);
    super.log(level, message);
  }
}

const denyWrites: Security = {
  authenticate: async (r) => (r.username === 'refused' ? 'not-authorized' : 'ok'),
  canWrite: () => false,
  canRead: () => true,
  canSubscribe: () => true,
};

test('lines whose level is off are never built: connect, subscribe, unsubscribe, a denied publish, disconnect and a refusal log nothing', async () => {
  const run = async (levels: LogLevel[]) => {
    const logger = new CountingLogger([], levels, false);
    const b = await startBroker({ logger, security: denyWrites });
    try {
      const c = await connectAsync(b.url, { clientId: 'quiet', reconnectPeriod: 0 });
      await c.subscribeAsync('a/#');
      await c.unsubscribeAsync('a/#');
      await c.publishAsync('a/b', 'x', { qos: 1 });
      await c.endAsync();
      await connectAsync(b.url, { clientId: 'nope', username: 'refused', reconnectPeriod: 0 }).then(
        (x) => x.end(true),
        () => undefined,
      );
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      await b.stop();
    }
    return logger.asked;
  };
  // With every level on, each of those steps logs: the check below is not vacuous.
  const all = await run([...LOG_LEVELS]);
  for (const level of ['information', 'subscribe', 'unsubscribe', 'debug', 'notice'] as const) {
    assert.ok(all.includes(level), `no ${level} line with every level on (${all.join(', ')})`);
  }
  assert.deepEqual(await run([]), [], 'a line was built for a level that is off');
});
