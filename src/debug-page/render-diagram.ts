import type { Address } from '../../events/ids.ts';
import type { KvEvent } from '../../events/kv-event.ts';
import { byId, sv } from './dom.ts';
import type { PageEvent } from './event-store.ts';
import { clockTime, short } from './format.ts';
import { laneColor } from './lane-colors.ts';
import type { ReadPageState } from './page-state.ts';

/** Writes drawn at most, the newest; older ones would crowd the dots into one smear. */
const dotsMax = 200;
const windowMinMs = 10_000;
const windowMaxMs = 120_000;
/** Grid steps to choose from: the smallest that needs at most 8 lines across the window. */
const gridStepsMs = [1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000];
const left = 200;
const right = 28;
const top = 30;
const laneGap = 62;
/** Key labels closer than this to the previous one on their lane are left out, so they stay legible. */
const labelGap = 34;

/** A write on the diagram: made by its origin at `at`, drawn on the lane at height `y`. */
interface Dot {
  readonly ev: PageEvent;
  readonly write: KvEvent;
  readonly at: number;
  readonly y: number;
}

/**
 * The space-time diagram: a lane per replica of the view, a dot per write on its origin's lane when
 * the origin made it, an arrow from it to each replica that delivered it, ending when it did. A head
 * never sits left of its dot: delivery cannot come before creation.
 */
export function renderDiagram(state: ReadPageState, pollMs: number): void {
  const { self, lanes } = state;
  const host = byId('diagram');
  const width = Math.max(640, host.clientWidth || 1000);
  const plot = width - left - right;
  const height = top + Math.max(1, lanes.length) * laneGap + 4;
  const laneY = new Map<Address, number>(lanes.map((address, i) => [address, top + 26 + i * laneGap]));
  const color = (address: Address) => laneColor(lanes, address);

  const now = Date.now();
  const made: Dot[] = [];
  for (const ev of state.events.all()) {
    const y = laneY.get(ev.lane);
    if (ev.createdAt === null || ev.write === null || y === undefined || ev.createdAt < now - windowMaxMs) continue;
    made.push({ ev, write: ev.write, at: ev.createdAt, y });
  }
  const dots = made.sort((a, b) => a.at - b.at || a.ev.seq - b.ev.seq).slice(-dotsMax);
  const oldest = dots[0];
  const windowMs = oldest === undefined ? windowMinMs : Math.min(windowMaxMs, Math.max(windowMinMs, now - oldest.at + 2000));
  const t0 = now - windowMs;
  const x = (t: number) => left + Math.min(1, Math.max(0, (t - t0) / windowMs)) * plot;

  const svg = sv('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'space-time diagram' });
  const defs = sv('defs');
  lanes.forEach((address, i) => {
    defs.appendChild(
      sv('marker', { id: `arrow-${i}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, [
        sv('path', { d: 'M0,0 L10,5 L0,10 z', fill: color(address) }),
      ]),
    );
  });
  svg.appendChild(defs);

  const step = gridStepsMs.find((s) => windowMs / s <= 8) ?? 60_000;
  for (let k = 0; now - k * step >= t0; k++) {
    const gx = x(now - k * step);
    svg.appendChild(sv('line', { x1: gx, x2: gx, y1: top - 4, y2: height - 4, stroke: k === 0 ? '#c8ceda' : '#eef0f4', 'stroke-width': 1 }));
    svg.appendChild(
      sv('text', { x: gx, y: top - 10, 'text-anchor': k === 0 ? 'end' : 'middle', 'font-size': 10, fill: '#8a92a3' }, [k === 0 ? 'now' : `\u2212${(k * step) / 1000} s`]),
    );
  }

  for (const address of lanes) {
    const y = laneY.get(address)!;
    const error = state.replicas.get(address)?.error;
    const peer = self.peers.find((p) => p.address === address);
    const sub = address === self.address ? 'this replica' : error ? 'page cannot reach it' : peer ? `link ${peer.link.state.replace('-', ' ')}` : '';
    svg.appendChild(sv('line', { x1: left - 8, x2: width - right, y1: y, y2: y, stroke: '#d3d8e1', 'stroke-width': 1.5 }));
    svg.appendChild(sv('circle', { cx: 14, cy: y - 4, r: 5, fill: color(address) }));
    svg.appendChild(
      sv('text', { x: 26, y, 'font-size': 12, 'font-weight': address === self.address ? 650 : 500, fill: '#1d2330', class: 'lane-label' }, [address]),
    );
    svg.appendChild(sv('text', { x: 26, y: y + 14, 'font-size': 10.5, fill: error ? '#a32020' : '#8a92a3' }, [sub]));
  }

  const arrows = sv('g', { class: 'arrows' });
  const marks = sv('g', { class: 'events' });
  const labels = sv('g', { class: 'labels' });
  const lastLabelX = new Map<Address, number>();
  for (const { ev, write, at, y } of dots) {
    const cx = x(at);
    const dotColor = color(ev.lane);
    const deliveredAt: string[] = [];
    for (const address of lanes) {
      const delivery = ev.delivered.get(address);
      if (address === ev.lane || delivery === undefined) continue;
      const deliveredAtMs = Math.max(delivery.at, at);
      deliveredAt.push(`${address} +${Math.round(deliveredAtMs - at)} ms${delivery.exact ? '' : ' (by then)'}`);
      const ty = laneY.get(address)!;
      const dy = ty > y ? -6 : 6;
      arrows.appendChild(
        sv('line', {
          x1: cx,
          y1: y,
          x2: x(deliveredAtMs),
          y2: ty + dy,
          stroke: dotColor,
          'stroke-opacity': 0.55,
          'stroke-width': 1.2,
          // Dashed: only a poll of its clock shows the delivery, an upper bound up to a poll late.
          'stroke-dasharray': delivery.exact ? null : '3 3',
          'marker-end': `url(#arrow-${lanes.indexOf(ev.lane)})`,
          class: 'delivery',
          'data-id': ev.id,
          'data-to': address,
        }),
      );
    }
    const title =
      `${write.type} ${write.key}${write.type === 'put' ? ` = ${short(JSON.stringify(write.value), 80)}` : ''}` +
      `\n${ev.id}\nmade ${clockTime(at)}${deliveredAt.length > 0 ? `\ndelivered: ${deliveredAt.join(', ')}` : ''}`;
    marks.appendChild(
      sv(
        'circle',
        {
          cx,
          cy: y,
          r: 5.5,
          fill: write.type === 'delete' ? '#fff' : dotColor,
          stroke: dotColor,
          'stroke-width': 2,
          class: 'event',
          'data-key': write.key,
          'data-id': ev.id,
          'data-origin': ev.lane,
        },
        [sv('title', null, [title])],
      ),
    );
    if (cx - (lastLabelX.get(ev.lane) ?? -1e9) >= labelGap) {
      lastLabelX.set(ev.lane, cx);
      labels.appendChild(sv('text', { x: cx, y: y - 10, 'text-anchor': 'middle', 'font-size': 10.5, fill: '#3b4252', class: 'event-key' }, [short(write.key, 9)]));
    }
  }
  svg.appendChild(arrows);
  svg.appendChild(marks);
  svg.appendChild(labels);
  if (dots.length === 0) {
    svg.appendChild(
      sv('text', { x: left + plot / 2, y: top + 8, 'text-anchor': 'middle', 'font-size': 12, fill: '#8a92a3' }, [
        `no writes in the last ${windowMs / 1000} s: PUT a key at any replica`,
      ]),
    );
  }
  host.replaceChildren(svg);
  byId('diagram-note').textContent = `${dots.length} write${dots.length === 1 ? '' : 's'} · last ${Math.round(windowMs / 1000)} s · polled every ${pollMs} ms`;
}
