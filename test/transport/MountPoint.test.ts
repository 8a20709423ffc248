/**
 * `mount_point` on a listener: its clients live under a prefix and see topics without it;
 * clients of other listeners see the full topic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultListener } from '../../src/config/BrokerConfig';
import { connectClient, startBroker } from '../helpers/broker';

test('mount_point: prefixed on the way in, stripped on the way out, retained and wills included', async () => {
  const b = await startBroker();
  try {
    const mounted = await b.server.listen({ ...defaultListener(0), bindAddress: '127.0.0.1', mountPoint: 'home/' });
    const url = `mqtt://127.0.0.1:${mounted.addresses()[0].port}`;
    const outside = await connectClient(b.url);
    await outside.client.subscribeAsync('#', { qos: 1 });
    const inside = await connectClient(url, { will: { topic: 'gone', payload: Buffer.from('w'), qos: 1, retain: false } });
    await inside.client.subscribeAsync('#', { qos: 1 });

    await outside.client.publishAsync('home/from-outside', 'a', { qos: 1, retain: true });
    await outside.client.publishAsync('elsewhere', 'b', { qos: 1 });
    await inside.client.publishAsync('from-inside', 'c', { qos: 1 });
    assert.deepEqual([(await inside.next()).topic, (await inside.next()).topic], ['from-outside', 'from-inside'], 'nothing from outside the mount point');
    assert.deepEqual(
      [(await outside.next()).topic, (await outside.next()).topic, (await outside.next()).topic],
      ['home/from-outside', 'elsewhere', 'home/from-inside'],
    );

    const late = await connectClient(url);
    await late.client.subscribeAsync('+', { qos: 1 });
    const r = await late.next();
    assert.deepEqual([r.topic, r.packet.retain], ['from-outside', true]);

    inside.client.stream.destroy();
    assert.equal((await outside.next()).topic, 'home/gone', 'the will is published under the mount point');
    await outside.client.publishAsync('home/from-outside', '', { qos: 1, retain: true });
    await Promise.all([outside.end(), late.end(), inside.end()]);
  } finally {
    await b.stop();
  }
});
