// A double-ended queue on a circular array that doubles when full: push at the back, unshift at
// the front, peek and shift from the front, each O(1) (amortized for the growth). The dispatcher's
// wait queue (./dispatcher.ts): FIFO, with requests taken back from a blocked worker put back at
// the front. It fills exactly when the server is overloaded, which is when an Array's shift,
// unshift or slice (O(n) each) would cost the most.
const MIN_CAPACITY = 16;
/** An empty queue whose array grew past this goes back to MIN_CAPACITY (a burst's memory is returned). */
const SHRINK_ABOVE = 1024;

export class Deque<T> {
  private items: Array<T | undefined> = new Array<T | undefined>(MIN_CAPACITY);
  /** Index of the front item. */
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  /** Add `item` at the back. */
  push(item: T): void {
    if (this.size === this.items.length) this.grow();
    this.items[(this.head + this.size) & (this.items.length - 1)] = item;
    this.size++;
  }

  /** Add `item` at the front: it is the next one out. */
  unshift(item: T): void {
    if (this.size === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = item;
    this.size++;
  }

  /** The front item, left in place; undefined when empty. */
  peek(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  /** Take the front item; undefined when empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    if (--this.size === 0) this.reset();
    return item;
  }

  /** Remove `item` wherever it is (O(n): for a rare removal, such as a request timing out while it waits). */
  remove(item: T): boolean {
    const mask = this.items.length - 1;
    let k = 0;
    while (k < this.size && this.items[(this.head + k) & mask] !== item) k++;
    if (k === this.size) return false;
    for (; k < this.size - 1; k++) this.items[(this.head + k) & mask] = this.items[(this.head + k + 1) & mask];
    this.items[(this.head + this.size - 1) & mask] = undefined;
    if (--this.size === 0) this.reset();
    return true;
  }

  private grow(): void {
    const old = this.items;
    const mask = old.length - 1;
    const items = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.size; i++) items[i] = old[(this.head + i) & mask];
    this.items = items;
    this.head = 0;
  }

  private reset(): void {
    this.head = 0;
    if (this.items.length > SHRINK_ABOVE) this.items = new Array<T | undefined>(MIN_CAPACITY);
  }
}
