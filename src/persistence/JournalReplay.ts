/**
 * Replays journal records onto a snapshot: the flash store's state plus every change
 * journaled since it was written. Records that name a session or packet id that is not
 * there (a state already compacted past them) change nothing.
 */
import type { ByteReader } from './ByteReader';
import { DELIVERY_HAS_SUBSCRIPTION_ID, DELIVERY_KNOWN, DELIVERY_RETAIN, RecordType } from './JournalFormat';
import { decodeStore, readMessage, readPacketId, readSession, readSubscriptionId, readWill } from './SnapshotCodec';
import { StoreCorruptError } from './StoreCorruptError';
import type { StoreSnapshot, StoredBridgeQueue, StoredMessage, StoredQueuedMessage, StoredSession, StoredWill } from './StoreSnapshot';

/** A bridge queue being replayed; removed entries are null until the end. */
interface ReplayBridge {
  entries: (StoredQueuedMessage | null)[];
  held: Map<number, StoredQueuedMessage>;
  /** No entry before this index is without a packet id. */
  unsent: number;
}

interface ReplaySession {
  meta: StoredSession;
  /** In flight, by packet id, in the order sent. */
  inflight: Map<number, StoredQueuedMessage>;
  queue: StoredQueuedMessage[];
  head: number;
}

/** Index of the oldest live entry without a packet id, or -1. */
function oldestUnsent(bridge: ReplayBridge): number {
  const entries = bridge.entries;
  let i = bridge.unsent;
  while (i < entries.length && (entries[i] === null || entries[i]!.packetId !== undefined)) i++;
  // Entries before i all have ids or are gone; ids only go away all at once (BridgeForgotten).
  bridge.unsent = i;
  return i < entries.length ? i : -1;
}

export class JournalReplay {
  private retained = new Map<string, StoredMessage>();
  private sessions = new Map<string, ReplaySession>();
  private wills = new Map<string, StoredWill>();
  private bridges = new Map<string, ReplayBridge>();
  /** Message definitions of the file being replayed (ids are per file). */
  private messages = new Map<number, StoredMessage>();
  /** Records applied. */
  applied = 0;

  constructor(base: StoreSnapshot) {
    this.load(base);
  }

  /** A new file begins: its message ids start afresh. */
  startFile(): void {
    this.messages.clear();
  }

  /** Applies one record body; throws StoreCorruptError when it does not decode. */
  apply(r: ByteReader): void {
    const at = r.position;
    const type = r.u8('record type');
    switch (type) {
      case RecordType.Retained: {
        const m = readMessage(r, 'retained');
        if (m.payload.length === 0) this.retained.delete(m.topic);
        else this.retained.set(m.topic, m);
        break;
      }
      case RecordType.Message:
        this.messages.set(r.varuint('message id'), readMessage(r, 'message'));
        break;
      case RecordType.Session:
        this.putSession(readSession(r, 'session'));
        break;
      case RecordType.SessionMeta: {
        const meta = readSession(r, 'session');
        const known = this.sessions.get(meta.clientId);
        if (known) known.meta = meta;
        else this.putSession(meta);
        break;
      }
      case RecordType.SessionEnd:
        this.sessions.delete(r.string('clientId'));
        break;
      case RecordType.Queued: {
        const s = this.sessions.get(r.string('clientId'));
        const d = this.delivery(r);
        s?.queue.push(d);
        break;
      }
      case RecordType.SentDirect: {
        const s = this.sessions.get(r.string('clientId'));
        const packetId = this.packetId(r);
        const d = this.delivery(r);
        d.packetId = packetId;
        s?.inflight.set(packetId, d);
        break;
      }
      case RecordType.SentHead: {
        const s = this.sessions.get(r.string('clientId'));
        const packetId = this.packetId(r);
        if (s && s.head < s.queue.length) {
          const d = s.queue[s.head++]!;
          d.packetId = packetId;
          s.inflight.set(packetId, d);
        }
        break;
      }
      case RecordType.Unqueued: {
        const s = this.sessions.get(r.string('clientId'));
        if (s && s.head < s.queue.length) s.head++;
        break;
      }
      case RecordType.Released: {
        const d = this.sessions.get(r.string('clientId'))?.inflight.get(this.packetId(r));
        if (d) d.released = true;
        break;
      }
      case RecordType.Completed: {
        const s = this.sessions.get(r.string('clientId'));
        s?.inflight.delete(this.packetId(r));
        break;
      }
      case RecordType.IncomingQos2: {
        const s = this.sessions.get(r.string('clientId'));
        const packetId = this.packetId(r);
        const pending = r.u8('pending') !== 0;
        if (!s) break;
        const ids = s.meta.incomingQos2Ids;
        const i = ids.indexOf(packetId);
        if (pending && i < 0) ids.push(packetId);
        else if (!pending && i >= 0) ids.splice(i, 1);
        break;
      }
      case RecordType.Will: {
        const will = readWill(r, 'will');
        this.wills.set(will.clientId, will);
        break;
      }
      case RecordType.WillGone:
        this.wills.delete(r.string('clientId'));
        break;
      case RecordType.BridgeQueued: {
        const bridge = this.bridge(r.string('bridge'));
        const topic = r.string('remote topic');
        bridge.entries.push({ ...this.delivery(r), topic });
        break;
      }
      case RecordType.BridgeSent: {
        const bridge = this.bridge(r.string('bridge'));
        const packetId = this.packetId(r);
        const i = oldestUnsent(bridge);
        if (i >= 0) bridge.entries[i]!.packetId = packetId;
        break;
      }
      case RecordType.BridgeReleased: {
        const bridge = this.bridge(r.string('bridge'));
        const packetId = this.packetId(r);
        const entry = bridge.entries.find((e) => e?.packetId === packetId);
        if (entry) entry.released = true;
        break;
      }
      case RecordType.BridgeDone: {
        const bridge = this.bridge(r.string('bridge'));
        const packetId = r.u16('packetId');
        const i = packetId === 0 ? oldestUnsent(bridge) : bridge.entries.findIndex((e) => e?.packetId === packetId);
        if (i >= 0) bridge.entries[i] = null;
        break;
      }
      case RecordType.BridgeForgotten: {
        const bridge = this.bridge(r.string('bridge'));
        for (const e of bridge.entries) {
          if (!e) continue;
          delete e.packetId;
          delete e.released;
        }
        bridge.unsent = 0;
        break;
      }
      case RecordType.BridgeHeld: {
        const bridge = this.bridge(r.string('bridge'));
        const packetId = this.packetId(r);
        bridge.held.set(packetId, { ...readMessage(r, 'message'), packetId });
        break;
      }
      case RecordType.BridgeHeldDone: {
        const bridge = this.bridge(r.string('bridge'));
        bridge.held.delete(this.packetId(r));
        break;
      }
      case RecordType.Checkpoint: {
        const { snapshot, problems } = decodeStore(r.rest());
        if (problems.length > 0) throw new StoreCorruptError(at, `a checkpoint that decodes (${problems[0]!.message})`);
        this.retained.clear();
        this.sessions.clear();
        this.wills.clear();
        this.bridges.clear();
        this.load(snapshot);
        break;
      }
      default:
        r.fail(`a record type 1..${RecordType.Checkpoint}, found ${type}`, at);
    }
    if (r.remaining !== 0) r.fail(`end of record, found ${r.remaining} more bytes`);
    this.applied++;
  }

  /** The replayed state (without a journal generation: the caller sets it). */
  snapshot(): StoreSnapshot {
    const sessions: StoredSession[] = [];
    for (const s of this.sessions.values()) {
      sessions.push({ ...s.meta, queue: [...s.inflight.values(), ...s.queue.slice(s.head)] });
    }
    const snapshot: StoreSnapshot = { retained: [...this.retained.values()], sessions };
    if (this.wills.size > 0) snapshot.wills = [...this.wills.values()];
    const bridges: StoredBridgeQueue[] = [];
    for (const [name, b] of this.bridges) {
      const bridge: StoredBridgeQueue = { name, queue: b.entries.filter((e) => e !== null) };
      if (b.held.size > 0) bridge.incoming = [...b.held.values()];
      if (bridge.queue.length > 0 || bridge.incoming !== undefined) bridges.push(bridge);
    }
    if (bridges.length > 0) snapshot.bridges = bridges;
    return snapshot;
  }

  private load(base: StoreSnapshot): void {
    for (const m of base.retained) this.retained.set(m.topic, m);
    for (const s of base.sessions) this.putSession(s);
    for (const w of base.wills ?? []) this.wills.set(w.clientId, w);
    for (const b of base.bridges ?? []) {
      this.bridges.set(b.name, { entries: [...b.queue], unsent: 0, held: new Map((b.incoming ?? []).map((m) => [m.packetId ?? 0, m])) });
    }
  }

  private bridge(name: string): ReplayBridge {
    let bridge = this.bridges.get(name);
    if (bridge === undefined) this.bridges.set(name, (bridge = { entries: [], unsent: 0, held: new Map() }));
    return bridge;
  }

  private putSession(s: StoredSession): void {
    const session: ReplaySession = { meta: { ...s, queue: [] }, inflight: new Map(), queue: [], head: 0 };
    for (const q of s.queue) {
      if (q.packetId !== undefined) session.inflight.set(q.packetId, q);
      else session.queue.push(q);
    }
    this.sessions.set(s.clientId, session);
  }

  private packetId(r: ByteReader): number {
    return readPacketId(r, 'packetId');
  }

  private delivery(r: ByteReader): StoredQueuedMessage {
    const idAt = r.position;
    const message = this.messages.get(r.varuint('message id'));
    if (message === undefined) r.fail('a message id defined earlier in this file', idAt);
    const at = r.position;
    const flags = r.u8('delivery flags');
    if ((flags & ~DELIVERY_KNOWN) !== 0 || (flags & 0x03) === 3) r.fail(`delivery flags: QoS 0..2 and known bits, found ${flags}`, at);
    const d: StoredQueuedMessage = { ...message, qos: (flags & 0x03) as 0 | 1 | 2, retain: (flags & DELIVERY_RETAIN) !== 0 };
    // As the store reads one: 1..268,435,455 (0 is no identifier).
    if (flags & DELIVERY_HAS_SUBSCRIPTION_ID) d.subscriptionIds = [readSubscriptionId(r, 'subscriptionId')];
    return d;
  }
}
