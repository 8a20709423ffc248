import type { Message } from './Message';
import { topicMatches } from './topics';

/**
 * The last retained message of each topic [MQTT-3.3.1-5]. An empty payload clears a
 * topic [MQTT-3.3.1-10]. Matching a new subscription scans the store: it runs once per
 * SUBSCRIBE, not per PUBLISH, and a home broker holds thousands of retained topics, not millions.
 */
export class RetainedStore {
  private readonly messages = new Map<string, Message>();
  /** Bumped on every change, so persistence saves only when something changed. */
  version = 0;

  get size(): number {
    return this.messages.size;
  }

  /** Stores or (empty payload) clears the retained message of its topic. */
  set(message: Message): void {
    // $SYS topics are not persisted, so they do not count as a change to save.
    const counts = !message.topic.startsWith('$SYS/');
    if (message.payload.length === 0) {
      if (this.messages.delete(message.topic) && counts) this.version++;
      return;
    }
    this.messages.set(message.topic, message);
    if (counts) this.version++;
  }

  get(topic: string): Message | undefined {
    return this.messages.get(topic);
  }

  /** Calls `visit` for every live retained message whose topic matches the filter. */
  forEachMatch(filter: string, now: number, visit: (message: Message) => void): void {
    if (!filter.includes('+') && !filter.includes('#')) {
      const m = this.messages.get(filter);
      if (m) this.visitLive(m, now, visit);
      return;
    }
    for (const m of this.messages.values()) {
      if (topicMatches(filter, m.topic)) this.visitLive(m, now, visit);
    }
  }

  all(): IterableIterator<Message> {
    return this.messages.values();
  }

  private visitLive(message: Message, now: number, visit: (message: Message) => void): void {
    if (message.isExpired(now)) {
      this.messages.delete(message.topic);
      this.version++;
      return;
    }
    visit(message);
  }
}
