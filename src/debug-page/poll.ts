import type { Address } from '../../events/ids.ts';
import type { LogAnswer, RecentAnswer, StateAnswer } from './answers.ts';
import type { EventStore } from './event-store.ts';
import { fetchJson, type Answer } from './fetch-json.ts';
import { clockTime, errorMessage } from './format.ts';
import type { PageState, ReplicaReach } from './page-state.ts';

/** What the status line in the header says after a poll. */
export interface Status {
  readonly ok: boolean;
  readonly text: string;
}

/**
 * One poll: this replica's state, then every replica of its view (its state and new records, read
 * across origins), then the bodies of tail events the page has not seen.
 */
export async function pollReplicas(state: PageState): Promise<Status> {
  try {
    const answer = await fetchJson<StateAnswer>('/debug/state');
    const self = answer.body;
    state.self = self;
    state.lanes = self.view.includes(self.address) ? [...self.view] : [self.address, ...self.view];
    await Promise.all(state.lanes.map((address) => pollReplica(state, self.address, address, address === self.address ? answer : null)));
    await fillTailBodies(state.events);
    const down = state.lanes.filter((address) => state.replicas.get(address)?.error);
    return { ok: down.length === 0, text: `updated ${clockTime(Date.now())}${down.length > 0 ? ` · cannot reach ${down.join(', ')}` : ''}` };
  } catch (err) {
    return { ok: false, text: `cannot read /debug/state of this replica: ${errorMessage(err)}` };
  }
}

async function pollReplica(state: PageState, selfAddress: Address, address: Address, known: Answer<StateAnswer> | null): Promise<void> {
  const reach = state.replicas.get(address) ?? newReach(state, address);
  // This replica's own pages are read from where the page came from; the others' across origins.
  const urlFor = (path: string) => (address === selfAddress ? path : `http://${address}${path}`);
  try {
    const answer = known ?? (await fetchJson<StateAnswer>(urlFor('/debug/state')));
    const described = answer.body;
    if (described.id !== reach.id) {
      reach.id = described.id;
      reach.cursor = 0;
    }
    reach.state = described;
    const recent = await fetchJson<RecentAnswer>(urlFor(`/debug/recent?after=${reach.cursor}`));
    // Restarted between the two reads: its records are numbered afresh; start over next poll.
    if (recent.body.id !== reach.id) {
      reach.cursor = 0;
      return;
    }
    state.events.applyRecords(address, recent, address === selfAddress);
    reach.cursor = recent.body.next;
    state.events.markCovered(address, described.clock, answer.t1);
    reach.error = null;
  } catch (err) {
    reach.error = errorMessage(err);
  }
}

function newReach(state: PageState, address: Address): ReplicaReach {
  const reach: ReplicaReach = { id: null, state: null, error: null, cursor: 0 };
  state.replicas.set(address, reach);
  return reach;
}

/** The tail shows events this replica delivered; fetch the body of one whose origin the page did not read, once. */
async function fillTailBodies(events: EventStore): Promise<void> {
  const missing = events.newestTail().filter(({ ev }) => ev.write === null && !ev.logTried);
  await Promise.all(
    missing.map(async ({ ev }) => {
      ev.logTried = true;
      try {
        const answer = await fetchJson<LogAnswer>(`/debug/log?origin=${encodeURIComponent(ev.origin)}&since=${ev.seq - 1}&limit=1`);
        const found = answer.body.events[0];
        if (found !== undefined && found.seq === ev.seq) ev.write = found;
      } catch {
        // The row keeps its '?': the event may be compacted away, and asking again would not help.
      }
    }),
  );
}
