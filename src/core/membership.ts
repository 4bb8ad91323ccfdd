import type { Address } from '../../events/ids.ts';

/**
 * Where a peer stands in this replica's view. `suspected`: out of the view (failure detection here
 * or elsewhere removed it) but still probed, so it is taken back when it answers; `removed`: taken
 * out by a client, forgotten until someone adds it again.
 */
export type MemberState = 'member' | 'suspected' | 'removed';

/** The view: this replica's own place in it, and a version that grows whenever it changes. */
export class Membership {
  selfMember = true;
  /** Grows whenever the view changes, so the shell can notice a change without comparing lists. */
  version = 0;

  /** Moves a peer to `state`, counting a change of the view. */
  move(peer: { member: MemberState }, state: MemberState): void {
    if ((peer.member === 'member') !== (state === 'member')) this.version++;
    peer.member = state;
  }

  setSelf(member: boolean): boolean {
    const was = this.selfMember;
    this.selfMember = member;
    this.version++;
    return was;
  }
}

/** Orders addresses as people read them (127.0.0.2 before 127.0.0.10); one collator, made once. */
export const compareAddresses: (a: Address, b: Address) => number = new Intl.Collator('en', { numeric: true }).compare;
