import { randomUUID } from 'node:crypto';
import { ExpectedError } from '../../events/expected-error.ts';
import { parseAddress, type Address } from '../../events/ids.ts';
import { ValidationError } from '../../events/validation-error.ts';

/**
 * Most reshards one node coordinates at once. Two at one node refuse each other's freeze there
 * (409), so more than one runs only for a moment; the bound is against a flood of requests.
 */
const runningReshardsMax = 32;

/** A reshard's id: its coordinator's address, then a slash and a UUID. Nodes frozen by it ask that address whether it still runs. */
export function newReshardId(coordinator: Address): string {
  return `${coordinator}/${randomUUID()}`;
}

/** The coordinator named by a reshard's id, or undefined when the id names none (made by hand, or by another kind of node). */
export function coordinatorOf(reshard: string): Address | undefined {
  const slash = reshard.lastIndexOf('/');
  if (slash < 0) return undefined;
  try {
    return parseAddress(reshard.slice(0, slash));
  } catch (error) {
    if (error instanceof ValidationError) return undefined;
    throw error;
  }
}

/**
 * The reshards this node coordinates now (reshard.ts), by id: a node frozen by one of them asks
 * whether it still runs, and thaws when it does not. Its freeze may have reached it late (a cut
 * link healed and the kernel sent it again) after the reshard gave up, and the thaw that followed
 * was lost: without the question, writes there would stop for up to 30 s (freezeTimeoutMs).
 */
export class RunningReshards {
  private readonly ids = new Set<string>();

  /** Called before the reshard's freeze is sent, so no node is ever told that a live reshard is over. */
  add(reshard: string): void {
    if (this.ids.size >= runningReshardsMax) throw new ExpectedError(`${runningReshardsMax} reshards are running at this node already; try again later`, 503);
    this.ids.add(reshard);
  }

  delete(reshard: string): void {
    this.ids.delete(reshard);
  }

  has(reshard: string): boolean {
    return this.ids.has(reshard);
  }
}
