import type { Broker } from '../broker/Broker';
import type { QoS } from '../broker/Message';
import { NEVER_EXPIRES } from '../broker/Session';
import { subscriptionKey } from '../broker/Subscription';
import { isValidTopicFilter, isValidTopicName } from '../broker/topics';
import type { LiveMessage } from './LiveHistory';
import type { TopicExplorer, TopicNode, TopicState } from './TopicExplorer';

/** Payload bytes a tree row shows; the full preview comes with `topic`. */
const ROW_PREVIEW = 96;
/** Caps that keep one reply well under ubus's 1 MiB message limit (UBUS_MAX_MSGLEN). */
const MAX_CHILDREN = 500;
const MAX_MATCHES = 500;
const MAX_EXPANDED = 64;
const MAX_LIVE_BATCH = 100;
const MAX_CLIENTS = 500;
/** Largest payload the Publish page may send when message_size_limit does not say. */
const MAX_PUBLISH_BYTES = 65536;

/** A request the API refuses, with a message for the page. */
export class ControlRequestError extends Error {}

type Args = Record<string, unknown>;
type Json = Record<string, unknown>;

/**
 * The explorer's methods, as the rpcd plugin forwards them from LuCI: each takes the JSON
 * arguments of the ubus call and returns a JSON object. Every argument is checked here
 * (the plugin passes them through unread) and an invalid one is refused with a message.
 */
export class ControlApi {
  constructor(
    private readonly broker: Broker,
    private readonly explorer: TopicExplorer,
  ) {}

  /** Method name → handler; an unknown name is refused by the server. */
  readonly methods: Readonly<Record<string, (args: Args) => Json>> = {
    topics: (a) => this.topics(a),
    topic: (a) => this.topic(a),
    live: (a) => this.live(a),
    clients: () => this.clients(),
    publish: (a) => this.publish(a),
    disconnect: (a) => this.disconnect(a),
    remove_session: (a) => this.removeSession(a),
  };

  /**
   * `{expanded: [[], ["home"], ...]}`: the children of each expanded level; or `{filter, search}`:
   * the matching topics as a flat list. Only what the page shows is sent.
   */
  private topics(a: Args): Json {
    const filter = optionalString(a, 'filter');
    const search = optionalString(a, 'search');
    if (filter !== undefined && !isValidTopicFilter(filter)) throw new ControlRequestError(`invalid topic filter: ${filter}`);
    if (filter !== undefined || search !== undefined) {
      const found = this.explorer.find(filter, search, MAX_MATCHES);
      return { matches: found.topics.map((t) => stateJson(t, ROW_PREVIEW)), total: found.total };
    }
    const expanded = a.expanded === undefined || a.expanded === null ? [[]] : a.expanded;
    if (!Array.isArray(expanded) || expanded.length > MAX_EXPANDED || !expanded.every(isPath)) {
      throw new ControlRequestError(`expanded must be a list of at most ${MAX_EXPANDED} level paths (lists of strings)`);
    }
    return {
      levels: expanded.map((path: string[]) => {
        const { nodes, more } = this.explorer.children(path, MAX_CHILDREN);
        return { path, nodes: nodes.map(nodeJson), more };
      }),
    };
  }

  private topic(a: Args): Json {
    const topic = requiredString(a, 'topic');
    const state = this.explorer.topic(topic);
    return state ? { message: stateJson(state, Infinity) } : {};
  }

  /**
   * `{filter, cursor}`: the messages after the cursor that match; the page polls with the new
   * cursor. Without one (a page's first poll) only the cursor of now: the page shows what
   * comes from here on, so the history is not sent for it to throw away.
   */
  private live(a: Args): Json {
    const filter = optionalString(a, 'filter') ?? '#';
    if (!isValidTopicFilter(filter)) throw new ControlRequestError(`invalid topic filter: ${filter}`);
    if (a.cursor === undefined) return { cursor: this.explorer.liveNow(), missed: 0, messages: [] };
    const cursor = Number(a.cursor);
    if (!Number.isSafeInteger(cursor) || cursor < 0) throw new ControlRequestError('cursor must be a whole number');
    const batch = this.explorer.liveSince(cursor, filter, MAX_LIVE_BATCH);
    return { cursor: batch.cursor, missed: batch.missed, messages: batch.messages.map(liveJson) };
  }

  private clients(): Json {
    const connectedAt = new Map(this.broker.clients().map((c) => [c.clientId, c.connectedAt]));
    const connected: Json[] = [];
    const offline: Json[] = [];
    for (const s of this.broker.sessions.values()) {
      if (s.clientId.startsWith('$local-')) continue;
      const subscriptions = [...s.subscriptions.values()].map((sub) => ({
        filter: subscriptionKey(sub.filter, sub.group),
        qos: sub.qos,
        no_local: sub.noLocal,
        retain_as_published: sub.retainAsPublished,
        retain_handling: sub.retainHandling,
        ...(sub.subscriptionId === undefined ? {} : { subscription_id: sub.subscriptionId }),
      }));
      const common = {
        client_id: s.clientId,
        ...(s.username === undefined ? {} : { username: s.username }),
        protocol: s.protocolVersion,
        // -1: a v3 persistent session, kept until persistent_client_expiration.
        session_expiry: s.expiryInterval === NEVER_EXPIRES ? -1 : s.expiryInterval,
        subscriptions,
        queued: s.queuedCount,
        inflight: s.inflightCount,
      };
      const link = s.link;
      if (link) {
        if (connected.length < MAX_CLIENTS) {
          connected.push({
            ...common,
            address: link.remoteAddress,
            connected_at: connectedAt.get(s.clientId) ?? 0,
            bytes_in: link.bytesReceived ?? 0,
            bytes_out: link.transmitted,
          });
        }
      } else if (offline.length < MAX_CLIENTS) {
        offline.push({ ...common, disconnected_at: s.disconnectedAt });
      }
    }
    return { connected, offline };
  }

  /** Publishes as the broker itself: the ACL of ordinary clients is neither used nor changed. */
  private publish(a: Args): Json {
    const topic = requiredString(a, 'topic');
    if (!isValidTopicName(topic)) throw new ControlRequestError('invalid topic name (no +, # or NUL; 1 to 65535 bytes)');
    if (topic.startsWith('$')) throw new ControlRequestError('topics starting with $ are the broker\'s own');
    const payload = Buffer.from(optionalString(a, 'payload') ?? '', 'utf8');
    // The broker's message_size_limit, and never more than a request to the endpoint carries
    // (ControlServer's MAX_REQUEST_BYTES holds a 64 KiB payload as JSON).
    const size = this.broker.limits.messageSizeLimit;
    const limit = size > 0 && size < MAX_PUBLISH_BYTES ? size : MAX_PUBLISH_BYTES;
    if (payload.length > limit) throw new ControlRequestError(`payload too large (${payload.length} bytes, at most ${limit})`);
    const qos = Number(a.qos ?? 0);
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new ControlRequestError('qos must be 0, 1 or 2');
    const retain = flag(a.retain);
    const contentType = optionalString(a, 'content_type');
    if (contentType !== undefined && Buffer.byteLength(contentType) > 65535) throw new ControlRequestError('content type too long');
    this.broker.publish(topic, payload, {
      qos: qos as QoS,
      retain,
      properties: contentType ? { contentType } : undefined,
    });
    return { result: payload.length === 0 && retain ? 'cleared' : 'published' };
  }

  private disconnect(a: Args): Json {
    const clientId = requiredString(a, 'client_id');
    if (!this.broker.kick(clientId)) throw new ControlRequestError(`no connected client '${clientId}'`);
    return { result: 'disconnected' };
  }

  private removeSession(a: Args): Json {
    const clientId = requiredString(a, 'client_id');
    if (!this.broker.removeSession(clientId)) throw new ControlRequestError(`no offline session '${clientId}'`);
    return { result: 'removed' };
  }
}

function optionalString(a: Args, name: string): string | undefined {
  const v = a[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ControlRequestError(`${name} must be a string`);
  return v;
}

function requiredString(a: Args, name: string): string {
  const v = a[name];
  if (typeof v !== 'string' || v === '') throw new ControlRequestError(`${name} is required`);
  return v;
}

/** LuCI sends checkboxes as "1"/"0"; rpc callers may send booleans. */
function flag(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 'true';
}

function isPath(p: unknown): p is string[] {
  return Array.isArray(p) && p.length < 1000 && p.every((l) => typeof l === 'string');
}

function stateJson(s: TopicState, previewBytes: number): Json {
  return {
    topic: s.topic,
    payload: (s.payload.length > previewBytes ? s.payload.subarray(0, previewBytes) : s.payload).toString('base64'),
    size: s.size,
    qos: s.qos,
    retain: s.retain,
    rate: s.rate,
    ...(s.contentType === undefined ? {} : { content_type: s.contentType }),
    ...(s.changedAt === undefined ? {} : { changed: s.changedAt }),
  };
}

function nodeJson(n: TopicNode): Json {
  return { name: n.name, topics: n.topics, ...(n.state ? { message: stateJson(n.state, ROW_PREVIEW) } : {}) };
}

function liveJson(m: LiveMessage): Json {
  return {
    seq: m.seq,
    topic: m.topic,
    payload: m.payload.toString('base64'),
    size: m.size,
    qos: m.qos,
    retain: m.retain,
    at: m.at,
    ...(m.contentType === undefined ? {} : { content_type: m.contentType }),
  };
}
