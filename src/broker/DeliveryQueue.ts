import type { Delivery } from './Session';

/**
 * A FIFO of deliveries with O(1) removal from the front. Session drains it on every
 * PUBACK; Array.prototype.splice(0, n) there shifted the whole queue each time.
 */
export class DeliveryQueue {
  private items: (Delivery | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(d: Delivery): void {
    this.items.push(d);
  }

  peek(): Delivery | undefined {
    return this.items[this.head];
  }

  shift(): Delivery | undefined {
    const items = this.items;
    if (this.head >= items.length) return undefined;
    const d = items[this.head];
    items[this.head++] = undefined;
    // Compact once the dead front is at least half the array: amortised O(1).
    if (this.head >= 64 && this.head * 2 >= items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    return d;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  *[Symbol.iterator](): IterableIterator<Delivery> {
    const items = this.items;
    for (let i = this.head; i < items.length; i++) yield items[i]!;
  }
}
