/**
 * A first-in first-out queue of at most `itemsMax` items; pushing onto a full queue drops the
 * oldest. Taking from the front is O(1) amortized: the array is trimmed only once the consumed head
 * is as long as what is left (Array.prototype.shift moves every element, which on a full queue of
 * thousands cost more than the rest of a write, measured).
 */
export class BoundedQueue<T> {
  private items: T[] = [];
  private head = 0;

  constructor(readonly itemsMax: number) {
    if (!Number.isSafeInteger(itemsMax) || itemsMax < 1) throw new Error(`itemsMax must be a positive integer, got ${itemsMax}`);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.length >= this.itemsMax) this.shift();
    this.items.push(item);
  }

  /** The oldest item, or undefined when empty. */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head] = undefined as T; // no reference kept to what was taken
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Oldest first. */
  *[Symbol.iterator](): Generator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }
}
