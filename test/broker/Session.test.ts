import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientLink } from '../../src/broker/ClientLink';
import { Message, type QoS } from '../../src/broker/Message';
import { DeliveryOutcome, PACING_BACKLOG_BYTES, Session, type SessionLimits } from '../../src/broker/Session';
import { DEFAULT_LIMITS } from '../../src/broker/Broker';

/** What the session asked its client's connection to send, in order. */
interface Sent {
  kind: 'publish' | 'pubrel';
  topic?: string;
  qos?: QoS;
  packetId: number;
  dup?: boolean;
}

/** A ClientLink that records instead of writing to a socket (Session is below the protocol layer). */
class RecordingLink implements ClientLink {
  readonly protocolVersion = 5 as const;
  readonly remoteAddress = 'test';
  backlog = 0;
  transmitted = 0;
  sent: Sent[] = [];
  paused = 0;
  drainNotices = 0;
  /** Messages with a payload longer than this are refused, as a v5 Maximum Packet Size would. */
  maxPayload = Infinity;
  /** Bytes each sent packet adds to `backlog` (0: the transport takes everything at once). */
  bytesPerPacket = 0;
  sendPublish(message: Message, qos: QoS, _retain: boolean, packetId: number, dup: boolean): boolean {
    if (message.payload.length > this.maxPayload) return false;
    this.sent.push({ kind: 'publish', topic: message.topic, qos, packetId, dup });
    this.backlog += this.bytesPerPacket;
    return true;
  }
  requestDrainNotice(): void {
    this.drainNotices++;
  }
  sendPubrel(packetId: number): void {
    this.sent.push({ kind: 'pubrel', packetId });
  }
  pauseReading(): void {
    this.paused++;
  }
  resumeReading(): void {
    this.paused--;
  }
  close(): void {}
}

function limits(over: Partial<SessionLimits> = {}): SessionLimits {
  return { ...DEFAULT_LIMITS, ...over };
}

function m(topic: string, qos: QoS = 1, payload = 'p'): Message {
  return new Message(topic, Buffer.from(payload), qos, false, undefined, undefined, 'pub');
}

function online(l: SessionLimits): { session: Session; link: RecordingLink } {
  const session = new Session('c', 5, l);
  const link = new RecordingLink();
  session.link = link;
  return { session, link };
}

test('in-flight window: max_inflight_messages are sent, the rest queue and go out as acks arrive', () => {
  const { session, link } = online(limits({ maxInflightMessages: 2 }));
  const outcomes = [1, 2, 3, 4, 5].map((i) => session.deliver(m(`t/${i}`), 1, false, undefined));
  assert.deepEqual(outcomes.slice(0, 2), [DeliveryOutcome.Sent, DeliveryOutcome.Sent]);
  assert.equal(outcomes[2], DeliveryOutcome.Queued);
  assert.deepEqual(link.sent.map((s) => s.topic), ['t/1', 't/2']);
  assert.equal(session.inflightCount, 2);
  assert.equal(session.queuedCount, 3);
  assert.equal(session.acknowledge(link.sent[0].packetId), true);
  assert.deepEqual(link.sent.map((s) => s.topic), ['t/1', 't/2', 't/3']);
  assert.equal(session.acknowledge(9999), false, 'an unknown id is not an ack');
  for (let i = 0; i < link.sent.length; i++) session.acknowledge(link.sent[i].packetId);
  assert.deepEqual(link.sent.map((s) => s.topic), ['t/1', 't/2', 't/3', 't/4', 't/5']);
  assert.equal(session.inflightCount, 0);
  assert.equal(session.queuedCount, 0);
});

test('QoS 0 is never windowed: it goes out at once while QoS 1 messages wait for room', () => {
  const { session, link } = online(limits({ maxInflightMessages: 1 }));
  session.deliver(m('q1'), 1, false, undefined);
  session.deliver(m('q2'), 1, false, undefined);
  session.deliver(m('zero', 0), 0, false, undefined);
  assert.deepEqual(link.sent.map((s) => s.topic), ['q1', 'zero']);
});

test('the window is the smaller of max_inflight_messages and the client Receive Maximum', () => {
  const { session, link } = online(limits({ maxInflightMessages: 10 }));
  session.receiveMaximum = 3;
  for (let i = 0; i < 6; i++) session.deliver(m(`t/${i}`), 2, false, undefined);
  assert.equal(link.sent.length, 3);
});

test('offline queue: bounded by max_queued_messages (then dropped), QoS 0 not queued by default', () => {
  const session = new Session('c', 5, limits({ maxQueuedMessages: 3 }));
  const outcomes = [1, 2, 3, 4].map((i) => session.deliver(m(`t/${i}`), 1, false, undefined));
  assert.deepEqual(outcomes, [DeliveryOutcome.Queued, DeliveryOutcome.Queued, DeliveryOutcome.Queued, DeliveryOutcome.Dropped]);
  assert.equal(session.deliver(m('zero', 0), 0, false, undefined), DeliveryOutcome.Dropped);
  assert.equal(session.queuedCount, 3);
  assert.equal(session.dropped, 1);
  const link = new RecordingLink();
  session.link = link;
  session.resume();
  assert.deepEqual(link.sent.map((s) => s.topic), ['t/1', 't/2', 't/3']);
});

test('offline queue: max_queued_bytes bounds the payload bytes; queue_qos0_messages queues QoS 0', () => {
  const session = new Session('c', 5, limits({ maxQueuedBytes: 10, queueQos0Messages: true }));
  assert.equal(session.deliver(m('a', 1, '123456'), 1, false, undefined), DeliveryOutcome.Queued);
  assert.equal(session.deliver(m('b', 1, '123456'), 1, false, undefined), DeliveryOutcome.Dropped);
  assert.equal(session.deliver(m('c', 0, '1234'), 0, false, undefined), DeliveryOutcome.Queued);
  assert.equal(session.queuedCount, 2);
});

test('reconnect: unacknowledged messages are resent with DUP and the same id; released QoS 2 gets PUBREL', () => {
  const { session, link } = online(limits());
  session.deliver(m('one'), 1, false, undefined);
  session.deliver(m('two', 2), 2, false, undefined);
  session.deliver(m('three', 2), 2, false, undefined);
  const [one, two, three] = link.sent;
  assert.equal(session.received(three.packetId), true);
  assert.deepEqual(link.sent[3], { kind: 'pubrel', packetId: three.packetId });
  assert.equal(session.received(one.packetId), false, 'PUBREC for a QoS 1 message is not valid');
  session.detach(Date.now());
  session.deliver(m('later'), 1, false, undefined);
  const again = new RecordingLink();
  session.link = again;
  session.resume();
  assert.deepEqual(again.sent, [
    { kind: 'publish', topic: 'one', qos: 1, packetId: one.packetId, dup: true },
    { kind: 'publish', topic: 'two', qos: 2, packetId: two.packetId, dup: true },
    { kind: 'pubrel', packetId: three.packetId },
    { kind: 'publish', topic: 'later', qos: 1, packetId: again.sent[3]?.packetId, dup: false },
  ]);
  assert.ok(![one, two, three].some((s) => s.packetId === again.sent[3].packetId), 'new id is not one in flight');
});

test('packet ids wrap from 65535 to 1, skip 0 and skip ids still in flight', () => {
  const { session, link } = online(limits({ maxInflightMessages: 0 }));
  session.deliver(m('held'), 1, false, undefined);
  const held = link.sent[0].packetId;
  assert.equal(held, 1);
  const seen: number[] = [];
  for (let i = 0; i < 65536; i++) {
    session.deliver(m('x'), 1, false, undefined);
    const id = link.sent[link.sent.length - 1].packetId;
    seen.push(id);
    session.acknowledge(id);
  }
  assert.ok(!seen.includes(0));
  assert.equal(seen[65533], 65535);
  assert.equal(seen[65534], 2, 'id 1 is still in flight, so the wrap skips it');
  assert.equal(Math.max(...seen), 65535);
  assert.equal(session.inflightCount, 1);
});

test('an expired message is not resent or drained', () => {
  const { session, link } = online(limits({ maxInflightMessages: 1 }));
  const past = Date.now() - 1;
  session.deliver(new Message('gone', Buffer.from('x'), 1, false, undefined, past, 'p'), 1, false, undefined);
  session.deliver(new Message('queued-gone', Buffer.from('x'), 1, false, undefined, past, 'p'), 1, false, undefined);
  session.deliver(m('kept'), 1, false, undefined);
  session.detach(Date.now());
  const again = new RecordingLink();
  session.link = again;
  session.resume();
  assert.deepEqual(again.sent.map((s) => s.topic), ['kept']);
});

test('a long queue on a connected subscriber pauses the publisher until it drains', () => {
  const { session, link } = online(limits({ maxInflightMessages: 1, maxQueuedMessages: 8 }));
  const publisher = new RecordingLink();
  let congested = false;
  for (let i = 0; i < 6 && !congested; i++) {
    if (session.deliver(m(`t/${i}`), 1, false, undefined) === DeliveryOutcome.Congested) {
      session.holdPublisher(publisher);
      congested = true;
    }
  }
  assert.equal(congested, true);
  assert.equal(publisher.paused, 1);
  while (session.inflightCount > 0) session.acknowledge(link.sent[link.sent.length - 1].packetId);
  assert.equal(publisher.paused, 0);
});

test('discardUnreadable drops refused messages in flight and queued, keeps released QoS 2 and the order', () => {
  // Three in flight (secret/1, ok/1, secret/2), two queued (ok/2, secret/3).
  const { session, link } = online(limits({ maxInflightMessages: 3 }));
  for (const t of ['secret/1', 'ok/1', 'secret/2', 'ok/2', 'secret/3']) session.deliver(m(t, 2), 2, false, undefined);
  const [, ok1] = link.sent;
  session.received(link.sent[0].packetId); // secret/1 is past PUBREC: the client has it
  session.detach(Date.now());
  session.discardUnreadable((message) => !message.topic.startsWith('secret/'));
  const again = new RecordingLink();
  session.link = again;
  session.resume();
  assert.deepEqual(
    again.sent.map((s) => (s.kind === 'pubrel' ? `pubrel ${s.packetId}` : s.topic)),
    [`pubrel ${link.sent[0].packetId}`, 'ok/1', 'ok/2'],
  );
  assert.equal(again.sent[1].packetId, ok1.packetId);
  assert.equal(again.sent[1].dup, true);
});

test('a publisher is held at most publisher_hold_timeout whatever the acks; then the session drops at its limits until it is down to low water', async () => {
  // Queue limit 8: high water 4, low water 2.
  const { session, link } = online(limits({ maxInflightMessages: 1, maxQueuedMessages: 8, publisherHoldTimeout: 0.05 }));
  const publisher = new RecordingLink();
  const outcomes = [1, 2, 3, 4, 5].map((i) => session.deliver(m(`t/${i}`), 1, false, undefined));
  assert.equal(outcomes[4], DeliveryOutcome.Congested);
  session.holdPublisher(publisher);
  session.holdPublisher(publisher);
  assert.equal(publisher.paused, 1, 'held once');
  // An acknowledgement now and then does not renew the hold (the 41 s case of issue 11).
  session.acknowledge(link.sent[link.sent.length - 1].packetId);
  assert.equal(session.queuedCount, 3);
  assert.equal(publisher.paused, 1);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(publisher.paused, 0, 'released when the hold ran out, with the queue still long');
  // Spent: it may not hold again; beyond its queue limit its own messages drop.
  session.holdPublisher(publisher);
  assert.equal(publisher.paused, 0);
  const more = [6, 7, 8, 9, 10, 11].map((i) => session.deliver(m(`t/${i}`), 1, false, undefined));
  assert.deepEqual(more.slice(-1), [DeliveryOutcome.Dropped]);
  assert.equal(session.queuedCount, 8);
  assert.equal(session.dropped, 1);
  // Down to low water: it may hold again.
  while (session.queuedCount > 2) session.acknowledge(link.sent[link.sent.length - 1].packetId);
  session.holdPublisher(publisher);
  assert.equal(publisher.paused, 1);
  session.endHold();
  assert.equal(publisher.paused, 0);
});

test('a subscriber never holds itself: its own PUBACKs could not be read', () => {
  const { session, link } = online(limits({ maxInflightMessages: 1, maxQueuedMessages: 4 }));
  session.holdPublisher(link);
  assert.equal(link.paused, 0);
});

test('a message too large for the client is discarded in place: 20,000 of them drain in a loop, not a recursion', () => {
  const session = new Session('c', 5, limits({ maxQueuedMessages: 0 }));
  for (let i = 0; i < 20_000; i++) session.deliver(m(`big/${i}`, 1, 'x'.repeat(100)), 1, false, undefined);
  session.deliver(m('small', 1, 'ok'), 1, false, undefined);
  const link = new RecordingLink();
  link.maxPayload = 10;
  session.link = link;
  session.resume();
  assert.deepEqual(link.sent.map((s) => s.topic), ['small']);
  assert.equal(session.queuedCount, 0);
  assert.equal(session.inflightCount, 1);
});

test('queued messages are paced by the transport: sending stops at the pacing backlog and goes on after a drain notice', () => {
  const session = new Session('c', 5, limits({ maxQueuedMessages: 0, queueQos0Messages: true }));
  for (let i = 0; i < 100; i++) session.deliver(m(`q/${i}`, 0), 0, false, undefined);
  const link = new RecordingLink();
  link.bytesPerPacket = PACING_BACKLOG_BYTES / 8;
  session.link = link;
  session.resume();
  assert.equal(link.sent.length, 8);
  assert.equal(link.drainNotices, 1);
  link.backlog = 0;
  session.drain();
  assert.equal(link.sent.length, 16);
  assert.deepEqual(link.sent.map((s) => s.topic), Array.from({ length: 16 }, (_, i) => `q/${i}`));
});

test('stall: outstanding messages and no acknowledgement nor transmitted byte for the stall time; any progress resets it', () => {
  const { session, link } = online(limits());
  assert.equal(session.isStalled(0, 2000), false);
  assert.equal(session.isStalled(5000, 2000), false, 'nothing outstanding is never a stall');
  session.deliver(m('a'), 1, false, undefined);
  assert.equal(session.isStalled(6000, 2000), false);
  link.transmitted += 10;
  assert.equal(session.isStalled(6900, 2000), false, 'the socket took bytes');
  assert.equal(session.isStalled(8000, 2000), false);
  assert.equal(session.isStalled(8900, 2000), true);
  session.acknowledge(link.sent[0].packetId);
  assert.equal(session.isStalled(9000, 2000), false);
});
