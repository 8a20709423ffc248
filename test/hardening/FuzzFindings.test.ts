/**
 * Inputs the protocol fuzzer found that once crashed the whole broker, kept as named
 * regression tests: each must close only the offending connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectClient, rawSession, startBroker } from '../helpers/broker';

const cases: [string, 4 | 5, number[]][] = [
  ['SUBSCRIBE with no topic filter (empty SUBACK could not be encoded)', 4, [0x82, 0x02, 0x00, 0x07]],
  ['v5 SUBSCRIBE with no topic filter', 5, [0x82, 0x03, 0x00, 0x07, 0x00]],
  ['v5 UNSUBSCRIBE with no topic filter', 5, [0xa2, 0x03, 0x00, 0x07, 0x00]],
  ['v5 PUBREL with no packet id (read as -1)', 5, [0x62, 0x00]],
  ['v3.1.1 PUBREL with no packet id', 4, [0x62, 0x00]],
  ['v5 PUBREC with a one-byte packet id', 5, [0x50, 0x01, 0x05]],
  ['v5 PUBCOMP with no packet id', 5, [0x70, 0x00]],
];

for (const [name, version, bytes] of cases) {
  test(`fuzz finding: ${name} closes that client only`, async () => {
    const b = await startBroker();
    try {
      const bystander = await connectClient(b.url, { clientId: 'bystander' });
      const peer = await rawSession(b.port, 'offender', version);
      peer.send(bytes);
      await peer.closed;
      await bystander.client.subscribeAsync('still/here');
      await bystander.client.publishAsync('still/here', 'yes');
      assert.equal((await bystander.next()).payload, 'yes');
      await bystander.end();
    } finally {
      await b.stop();
    }
  });
}
