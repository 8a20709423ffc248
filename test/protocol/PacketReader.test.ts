/**
 * PacketReader on its own: packets cut at every byte boundary come out whole and in order,
 * and a pause asked for by the sink (its turn spent) stops after the packet being handed
 * over, keeps the rest of the read and what arrives meanwhile, and resume() reads on from
 * exactly there.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mqtt from 'mqtt-packet';
import { PacketReader, type FramingError, type PacketSink } from '../../src/protocol/PacketReader';

/** Records what the reader hands over as one line per packet; `onEach` may pause the reader. */
class RecordingSink implements PacketSink {
  readonly seen: string[] = [];
  readonly errors: FramingError[] = [];
  reader!: PacketReader;
  onEach: ((n: number) => void) | undefined;

  onPublish(packet: mqtt.IPublishPacket): void {
    this.note(`publish ${packet.topic} ${(packet.payload as Buffer).toString()}`);
  }
  onPuback(packetId: number): void {
    this.note(`puback ${packetId}`);
  }
  onOtherPacket(bytes: Buffer): void {
    this.note(`other ${bytes[0]! >> 4} ${bytes.length}`);
  }
  onFramingError(error: FramingError): void {
    this.errors.push(error);
  }
  admitPublish(): number {
    return 0;
  }
  onRefusedPublish(): void {}

  private note(line: string): void {
    this.seen.push(line);
    this.onEach?.(this.seen.length);
  }
}

function reader(): { r: PacketReader; sink: RecordingSink; account: { bufferedBytes: number; admits: () => boolean } } {
  const sink = new RecordingSink();
  const account = { bufferedBytes: 0, admits: () => true };
  const r = new PacketReader(sink, () => 0, account);
  sink.reader = r;
  return { r, sink, account };
}

const connect = mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 0 });

/** CONNECT, then `n` packets: PUBLISH QoS 0 and 1, PUBACK, PINGREQ in turn. */
function stream(n: number): { bytes: Buffer; expected: string[] } {
  const parts: Buffer[] = [connect];
  const expected = [`other 1 ${connect.length}`];
  for (let i = 0; i < n; i++) {
    switch (i % 4) {
      case 0:
        parts.push(mqtt.generate({ cmd: 'publish', topic: `t/${i}`, payload: Buffer.from(`p${i}`), qos: 0, retain: false, dup: false }));
        expected.push(`publish t/${i} p${i}`);
        break;
      case 1:
        parts.push(mqtt.generate({ cmd: 'publish', topic: `t/${i}`, payload: Buffer.from(`p${i}`), qos: 1, messageId: i, retain: false, dup: false }));
        expected.push(`publish t/${i} p${i}`);
        break;
      case 2:
        parts.push(mqtt.generate({ cmd: 'puback', messageId: i }));
        expected.push(`puback ${i}`);
        break;
      default:
        parts.push(mqtt.generate({ cmd: 'pingreq' }));
        expected.push('other 12 2');
    }
  }
  return { bytes: Buffer.concat(parts), expected };
}

describe('PacketReader', () => {
  it('hands over every packet whole and in order, however the bytes are cut', () => {
    const { bytes, expected } = stream(40);
    for (const size of [1, 2, 3, 7, 64, bytes.length]) {
      const { r, sink, account } = reader();
      for (let at = 0; at < bytes.length; at += size) r.push(bytes.subarray(at, at + size));
      assert.deepEqual(sink.seen, expected, `cut every ${size} bytes`);
      assert.equal(account.bufferedBytes, 0);
      assert.deepEqual(sink.errors, []);
    }
  });

  it('a pause stops after the packet being handed over; resume() reads on from exactly there', () => {
    const { bytes, expected } = stream(40);
    const { r, sink, account } = reader();
    // Pause after every 5th packet, as a client that spent its turn.
    sink.onEach = (n) => {
      if (n % 5 === 0) r.pause();
    };
    r.push(bytes);
    assert.deepEqual(sink.seen, expected.slice(0, 5), 'nothing after the pause');
    assert.ok(account.bufferedBytes > 0, 'the rest of the read is held and counted');
    let resumes = 0;
    while (sink.seen.length < expected.length && resumes < 100) {
      r.resume();
      resumes++;
    }
    assert.deepEqual(sink.seen, expected);
    assert.equal(resumes, Math.ceil((expected.length - 5) / 5));
    assert.equal(account.bufferedBytes, 0);
  });

  it('reads pushed while paused wait, and come after the held rest, however they are cut', () => {
    const { bytes, expected } = stream(60);
    for (const size of [1, 5, 33, 500]) {
      const { r, sink, account } = reader();
      sink.onEach = (n) => {
        if (n % 7 === 0) r.pause();
      };
      for (let at = 0; at < bytes.length; at += size) r.push(bytes.subarray(at, at + size));
      for (let i = 0; i < 100 && sink.seen.length < expected.length; i++) r.resume();
      assert.deepEqual(sink.seen, expected, `cut every ${size} bytes`);
      assert.equal(account.bufferedBytes, 0);
      assert.deepEqual(sink.errors, []);
    }
  });

  it('a pause in the middle of a packet that spans reads takes effect once it is complete', () => {
    const big = mqtt.generate({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(5000, 0x61), qos: 0, retain: false, dup: false });
    const after = mqtt.generate({ cmd: 'pingreq' });
    const { r, sink } = reader();
    sink.onEach = () => r.pause();
    r.push(connect);
    r.resume();
    r.push(big.subarray(0, 1000));
    assert.equal(sink.seen.length, 1, 'the big packet is not complete yet');
    r.push(Buffer.concat([big.subarray(1000), after]));
    assert.equal(sink.seen.length, 2, 'the big packet came, then the reader paused');
    assert.match(sink.seen[1]!, /^publish big a{5000}$/);
    r.resume();
    assert.deepEqual(sink.seen.slice(2), ['other 12 2']);
  });

  it('a pause from outside between reads (the turn was spent) holds the next reads, even in the middle of a packet', () => {
    const big = mqtt.generate({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(5000, 0x62), qos: 0, retain: false, dup: false });
    const ping = mqtt.generate({ cmd: 'pingreq' });
    const { bytes, expected } = stream(12);
    const all = Buffer.concat([bytes, big, ping, big, ping]);
    const want = [...expected, `publish big ${'b'.repeat(5000)}`, 'other 12 2', `publish big ${'b'.repeat(5000)}`, 'other 12 2'];
    for (const size of [1, 3, 100, 1500, 4096]) {
      const { r, sink, account } = reader();
      // Every other read arrives while the reader is paused, wherever that read starts.
      let n = 0;
      for (let at = 0; at < all.length; at += size) {
        if (n++ % 2 === 1) r.pause();
        r.push(all.subarray(at, at + size));
        if (n % 3 === 0) r.resume();
      }
      r.resume();
      assert.deepEqual(sink.seen, want, `cut every ${size} bytes`);
      assert.deepEqual(sink.errors, []);
      assert.equal(account.bufferedBytes, 0);
    }
  });

  it('resume() without a pause, and a pause after the connection closed, change nothing', () => {
    const { bytes, expected } = stream(8);
    const { r, sink, account } = reader();
    r.resume();
    r.push(bytes);
    assert.deepEqual(sink.seen, expected);
    r.pause();
    r.discard();
    r.push(bytes);
    r.resume();
    assert.deepEqual(sink.seen, expected);
    assert.equal(account.bufferedBytes, 0);
  });
});
