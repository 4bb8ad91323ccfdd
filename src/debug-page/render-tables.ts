import { addressOf, incarnationOf, type Address, type ReplicaId } from '../../events/ids.ts';
import { clockEntry, clockSum } from '../../events/vector-clock.ts';
import { badge, byId, el, fill, row, td, th } from './dom.ts';
import { ago, clockTime, short } from './format.ts';
import { laneColor } from './lane-colors.ts';
import type { ReadPageState } from './page-state.ts';
import type { Status } from './poll.ts';

// The header and the cards around the diagram: what this replica says of itself, and the log tail.

export function renderStatus(status: Status): void {
  const node = byId('status');
  node.className = status.ok ? '' : 'error';
  node.textContent = status.text;
}

export function renderHeader({ self }: ReadPageState): void {
  byId('self').textContent = `${self.address}  ·  incarnation ${incarnationOf(self.id)}`;
}

/** A filled dot in the replica's color; hollow when the page cannot reach it or it has not delivered. */
function swatch(state: ReadPageState, address: Address, filled = true, title?: string): HTMLElement {
  const color = laneColor(state.lanes, address);
  return el('span', { class: 'swatch', title, style: `color:${color}${filled ? `;background:${color}` : ''}` });
}

export function renderSummary(state: ReadPageState): void {
  const { self } = state;
  const facts: [string, string | number][] = [
    ['Log length', `${self.logLength} events`],
    ['Pending', `${self.pendingEvents} events`],
    ['Live keys', self.liveKeys],
    ['Tombstones', self.tombstones],
    ['Delivered', `${self.deliveredEvents} events since start`],
    ['Stable', `${clockSum(self.stableFrontier)} of ${clockSum(self.clock)} (clock sums)`],
  ];
  fill('summary', facts.flatMap(([name, value]) => [el('dt', null, [name]), el('dd', null, [String(value)])]));
  fill(
    'view',
    self.view.map((address) => {
      const error = state.replicas.get(address)?.error;
      const isSelf = address === self.address;
      return el('li', { class: `chip mono${isSelf ? ' self' : ''}`, title: isSelf ? 'this replica' : error ? `page cannot reach it: ${error}` : 'peer' }, [
        swatch(state, address, !error),
        address,
      ]);
    }),
  );
}

/** The shard map of a sharded store (hidden otherwise): each shard's members, this node's shard marked, what a reshard is doing here. */
export function renderShards({ self }: ReadPageState): void {
  const sharding = self.sharding;
  byId('shards-card').hidden = sharding === undefined;
  if (sharding === undefined) return;
  const handing = sharding.handingOff > 0 ? ` · ${sharding.handingOff} writes a reshard missed to hand on` : '';
  const doing = (sharding.writesFrozen ? ' · reshard: writes frozen' : sharding.keysArriving ? ' · reshard: keys arriving' : '') + handing;
  byId('shards-note').textContent = `map epoch ${sharding.epoch} · this node: ${sharding.shard === null ? 'in no shard' : `shard ${sharding.shard}, ${sharding.shardKeys} keys`} · ${sharding.forwarded} forwarded (${sharding.forwardFailures} failed)${doing}`;
  const rows = [row([th('shard', 'num'), th('members')])];
  for (const shard of sharding.map) {
    const mine = shard.id === sharding.shard;
    rows.push(
      row([
        td(String(shard.id), `num mono${mine ? ' self' : ''}`),
        td(shard.members.map((address) => el('span', { class: `chip mono${address === self.address ? ' self' : ''}` }, [address]))),
      ]),
    );
  }
  fill('shards', rows);
}

export function renderClock({ self }: ReadPageState): void {
  // A vector clock's keys are replica ids.
  const ids = Object.keys(self.clock).sort() as ReplicaId[];
  if (ids.length === 0) {
    fill('clock', [el('tr', null, [el('td', { class: 'empty' }, ['no events yet'])])]);
    return;
  }
  const rows = [row([th('origin'), th('delivered', 'num'), th('stable', 'num')])];
  for (const id of ids) {
    rows.push(
      row([
        td([el('span', { class: 'mono', style: id === self.id ? 'font-weight:600' : null }, [addressOf(id)]), el('span', { class: 'muted mono' }, [` /${incarnationOf(id)}`])]),
        td(String(clockEntry(self.clock, id)), 'num mono'),
        td(String(clockEntry(self.stableFrontier, id)), 'num mono muted'),
      ]),
    );
  }
  fill('clock', rows);
}

export function renderReach(state: ReadPageState): void {
  const rows = [row([th('replica'), th('page'), th('delivered', 'num'), th('log', 'num'), th('pending', 'num')])];
  for (const address of state.lanes) {
    const reach = state.replicas.get(address);
    const described = reach?.state;
    const badgeOf =
      reach === undefined ? badge('unknown', 'not yet') : reach.error ? el('span', { title: reach.error }, [badge('down', 'unreachable')]) : badge('up', 'ok');
    rows.push(
      row([
        td([swatch(state, address), el('span', { class: 'mono' }, [address])]),
        td(badgeOf),
        td(described ? String(clockSum(described.clock)) : '–', 'num mono'),
        td(described ? String(described.logLength) : '–', 'num mono'),
        td(described ? String(described.pendingEvents) : '–', 'num mono'),
      ]),
    );
  }
  fill('reach', rows);
}

export function renderPeers({ self }: ReadPageState): void {
  if (self.peers.length === 0) {
    fill('peers', [el('tr', null, [el('td', { class: 'empty' }, ['no peers'])])]);
    return;
  }
  const rows = [
    row([th('peer'), th('in view'), th('link'), th('last failure'), th('last success'), th('missed probes', 'num'), th('lacks events', 'num'), th('incarnation')]),
  ];
  for (const peer of self.peers) {
    const { link } = peer;
    const linkBadge =
      link.state === 'held-down' ? badge('held-down', `held down · ${link.heldDownRemainingMs} ms left`) : link.state === 'failing' ? badge('failing', 'failing') : badge('up', 'up');
    const failure =
      link.lastFailureReason === null
        ? el('span', { class: 'muted' }, ['none'])
        : el('span', null, [short(link.lastFailureReason, 90), el('span', { class: 'muted' }, [` · ${ago(link.lastFailureAgoMs)}`])]);
    rows.push(
      row([
        td(el('span', { class: 'mono' }, [peer.address])),
        td(peer.inView ? badge('up', 'in view') : badge('out', peer.probed ? 'out · probed' : 'out')),
        td(linkBadge),
        td(failure, 'wrap'),
        td(ago(link.lastSuccessAgoMs), 'muted'),
        td(String(peer.missedProbes), 'num mono'),
        td(String(peer.lacksEvents), 'num mono'),
        td(peer.incarnation ?? '–', 'mono muted'),
      ]),
    );
  }
  fill('peers', rows);
}

export function renderTail(state: ReadPageState): void {
  const entries = state.events.newestTail();
  if (entries.length === 0) {
    fill('log-tail', [el('tr', null, [el('td', { class: 'empty' }, ['no events delivered here since this page opened'])])]);
    return;
  }
  const rows = [row([th('delivered here'), th('origin'), th('seq', 'num'), th('op'), th('key'), th('value'), th('delivered at')])];
  for (const { ev, at } of entries) {
    const { write } = ev;
    const value =
      write === null
        ? el('span', { class: 'muted' }, ['(not read: compacted)'])
        : write.type === 'delete'
          ? el('span', { class: 'muted' }, ['(tombstone)'])
          : short(JSON.stringify(write.value), 60);
    const marks = state.lanes.map((address) => {
      const done = ev.delivered.has(address);
      return swatch(state, address, done, `${address}${done ? ' delivered it' : ' has not delivered it yet'}`);
    });
    rows.push(
      row(
        [
          td(clockTime(at), 'mono muted'),
          td([swatch(state, ev.lane), el('span', { class: 'mono' }, [ev.lane])]),
          td(String(ev.seq), 'num mono'),
          td(write?.type ?? '?'),
          td(write === null ? '?' : short(write.key, 40), 'mono key'),
          td(value, 'mono'),
          td(marks),
        ],
        { 'data-id': ev.id },
      ),
    );
  }
  fill('log-tail', rows);
}
