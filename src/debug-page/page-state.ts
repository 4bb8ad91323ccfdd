import type { Address, ReplicaId } from '../../events/ids.ts';
import type { StateAnswer } from './answers.ts';
import { EventStore } from './event-store.ts';

/** One replica of the view as this page reaches it. */
export interface ReplicaReach {
  /** The life whose records `cursor` counts: a restarted replica numbers its records afresh. */
  id: ReplicaId | null;
  state: StateAnswer | null;
  /** Why the last poll failed; null when it succeeded. */
  error: string | null;
  /** The last record number read from its `/debug/recent`. */
  cursor: number;
}

/** Everything the page knows, kept from one poll to the next. */
export interface PageState {
  /** This replica (the one that served the page) as its last `/debug/state` described it. */
  self: StateAnswer | null;
  /** This replica's view, itself first if the view lacks it: the diagram's lanes, the reach table's rows. */
  lanes: Address[];
  readonly replicas: Map<Address, ReplicaReach>;
  readonly events: EventStore;
}

/** Once this replica has been read, there is something to draw. */
export type ReadPageState = PageState & { readonly self: StateAnswer };

export function emptyPageState(): PageState {
  return { self: null, lanes: [], replicas: new Map(), events: new EventStore() };
}

export function hasBeenRead(state: PageState): state is ReadPageState {
  return state.self !== null;
}
