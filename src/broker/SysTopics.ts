import { VERSION } from '../version';
import type { Broker } from './Broker';

/** mosquitto's load-average windows: 1, 5 and 15 minutes. */
const WINDOWS = [1, 5, 15] as const;

type Counter = 'messagesReceived' | 'messagesSent' | 'publishReceived' | 'publishSent' | 'publishDropped' | 'bytesReceived' | 'bytesSent' | 'connections' | 'sockets';

/** `$SYS/broker/load/<name>/<window>` ← the counter it is computed from. */
const LOADS: [string, Counter][] = [
  ['messages/received', 'messagesReceived'],
  ['messages/sent', 'messagesSent'],
  ['publish/received', 'publishReceived'],
  ['publish/sent', 'publishSent'],
  ['publish/dropped', 'publishDropped'],
  ['bytes/received', 'bytesReceived'],
  ['bytes/sent', 'bytesSent'],
  ['connections', 'connections'],
  ['sockets', 'sockets'],
];

/**
 * Publishes `$SYS/broker/...` every sys_interval seconds, with mosquitto's topic names.
 * Like mosquitto, a topic is republished only when its value changed; all are retained.
 */
export class SysTopics {
  private readonly last = new Map<string, string>();
  private readonly loads = new Map<string, number>();
  private previous: Record<Counter, number> | undefined;
  private previousAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly broker: Broker) {}

  start(intervalSeconds: number): void {
    this.stop();
    if (intervalSeconds <= 0) return;
    this.publish();
    this.timer = setInterval(() => this.publish(), intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Load average (per minute) of one counter over a window, as status readers need it. */
  load(name: string, window: 1 | 5 | 15): number {
    return this.loads.get(`${name}/${window}min`) ?? 0;
  }

  publish(): void {
    const b = this.broker;
    const s = b.stats;
    const now = Date.now();
    const disconnected = b.sessions.size - b.connectedCount;
    const values: [string, string | number][] = [
      ['version', `mqttd version ${VERSION}`],
      ['uptime', `${Math.floor((now - s.startedAt) / 1000)} seconds`],
      ['clients/connected', b.connectedCount],
      ['clients/active', b.connectedCount],
      ['clients/disconnected', disconnected < 0 ? 0 : disconnected],
      ['clients/inactive', disconnected < 0 ? 0 : disconnected],
      ['clients/total', b.sessions.size],
      ['clients/maximum', s.clientsMaximum],
      ['clients/expired', s.clientsExpired],
      ['messages/received', s.messagesReceived],
      ['messages/sent', s.messagesSent],
      ['messages/stored', b.retained.size],
      ['store/messages/count', b.retained.size],
      ['publish/messages/received', s.publishReceived],
      ['publish/messages/sent', s.publishSent],
      ['publish/messages/dropped', s.publishDropped],
      ['publish/bytes/received', s.publishBytesReceived],
      ['publish/bytes/sent', s.publishBytesSent],
      ['bytes/received', s.bytesReceived],
      ['bytes/sent', s.bytesSent],
      ['subscriptions/count', b.subscriptionCount],
      ['retained messages/count', b.retained.size],
      ['heap/current', process.memoryUsage().heapUsed],
    ];
    this.updateLoads(now);
    for (const [name] of LOADS) {
      for (const w of WINDOWS) values.push([`load/${name}/${w}min`, this.load(name, w).toFixed(2)]);
    }
    for (const [name, value] of values) {
      const text = String(value);
      const topic = `$SYS/broker/${name}`;
      if (this.last.get(topic) === text) continue;
      this.last.set(topic, text);
      b.publish(topic, text, { retain: true });
    }
  }

  /** mosquitto's exponentially damped per-minute rates (sys_tree.c calc_load). */
  private updateLoads(now: number): void {
    const s = this.broker.stats;
    const current = {} as Record<Counter, number>;
    for (const [, counter] of LOADS) current[counter] = s[counter];
    if (this.previous) {
      const seconds = (now - this.previousAt) / 1000;
      if (seconds > 0) {
        for (const [name, counter] of LOADS) {
          const perMinute = ((current[counter] - this.previous[counter]) * 60) / seconds;
          for (const w of WINDOWS) {
            const key = `${name}/${w}min`;
            const exponent = Math.exp(-seconds / (w * 60));
            const old = this.loads.get(key) ?? perMinute;
            this.loads.set(key, perMinute + exponent * (old - perMinute));
          }
        }
      }
    }
    this.previous = current;
    this.previousAt = now;
  }
}
