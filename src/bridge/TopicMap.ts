import type { QoS } from '../broker/Message';
import { topicMatches } from '../broker/topics';
import type { BridgeTopicConfig } from '../config/BrokerConfig';

/**
 * One `topic` line, as both brokers see it. mosquitto's rule: the local filter is
 * local-prefix + pattern and the remote filter is remote-prefix + pattern; a topic crossing
 * the bridge swaps one prefix for the other. An empty pattern maps exactly one topic: the
 * local prefix to the remote prefix.
 */
export class TopicRoute {
  readonly localFilter: string;
  readonly remoteFilter: string;
  readonly qos: QoS;
  readonly outgoing: boolean;
  readonly incoming: boolean;
  private readonly localPrefix: string;
  private readonly remotePrefix: string;

  constructor(config: BridgeTopicConfig) {
    this.localPrefix = config.localPrefix;
    this.remotePrefix = config.remotePrefix;
    this.localFilter = config.localPrefix + config.pattern;
    this.remoteFilter = config.remotePrefix + config.pattern;
    this.qos = config.qos;
    this.outgoing = config.direction !== 'in';
    this.incoming = config.direction !== 'out';
  }

  /** The remote topic of a local one this route's local filter matched. */
  toRemote(localTopic: string): string {
    return this.remotePrefix + localTopic.slice(this.localPrefix.length);
  }

  /** The local topic of a remote one this route's remote filter matched. */
  toLocal(remoteTopic: string): string {
    return this.localPrefix + remoteTopic.slice(this.remotePrefix.length);
  }
}

/** All `topic` lines of one bridge. */
export class TopicMap {
  readonly routes: TopicRoute[];

  constructor(topics: BridgeTopicConfig[]) {
    this.routes = topics.map((t) => new TopicRoute(t));
  }

  /** Routes that send local messages out, one per distinct local filter (first line wins). */
  outgoing(): TopicRoute[] {
    return firstPerFilter(this.routes.filter((r) => r.outgoing), (r) => r.localFilter);
  }

  /** Routes that bring remote messages in, one per distinct remote filter (first line wins). */
  incoming(): TopicRoute[] {
    return firstPerFilter(this.routes.filter((r) => r.incoming), (r) => r.remoteFilter);
  }

  /**
   * The local topic for a message the remote sent, by the first incoming line whose remote
   * filter matches (as mosquitto searches them); undefined when none does.
   */
  localTopicOf(remoteTopic: string): { topic: string; route: TopicRoute } | undefined {
    for (const route of this.routes) {
      if (route.incoming && topicMatches(route.remoteFilter, remoteTopic)) {
        return { topic: route.toLocal(remoteTopic), route };
      }
    }
    return undefined;
  }
}

function firstPerFilter(routes: TopicRoute[], key: (r: TopicRoute) => string): TopicRoute[] {
  const seen = new Set<string>();
  const out: TopicRoute[] = [];
  for (const r of routes) {
    if (seen.has(key(r))) continue;
    seen.add(key(r));
    out.push(r);
  }
  return out;
}
