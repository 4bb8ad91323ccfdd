/**
 * The debug page's script (served inline by `GET /debug`, src/http/debug-page-html.ts; bundled for
 * the browser by build.mjs). It polls `/debug/state` and `/debug/recent` of this replica and of
 * every replica in its view (cross-origin: those GETs carry `Access-Control-Allow-Origin: *`), and
 * `/debug/log` of this replica for the body of an event it lacks.
 *
 * What the space-time diagram shows, honestly:
 *  - A dot is a write, on its origin's lane, at the moment the origin made it. The origin reports
 *    each write's age on its own monotonic clock (`agoMs`); the page subtracts it from the middle of
 *    the request's round trip, so no two machines' clocks are compared and the error is at most
 *    half a round trip. Dots are thus ordered by time of first sight at the origin.
 *  - An arrow runs from that dot to the moment another replica delivered the event. When that
 *    replica recorded the delivery (`/debug/recent` records what each push delivered, including
 *    what it released from the pending buffer), the head is placed the same way (solid arrow).
 *    Otherwise (a snapshot, records already gone, the page opened later) the head is the first poll
 *    whose delivered clock covered the event: an upper bound, up to a poll interval late (dashed).
 *    A head never sits left of its dot: delivery cannot come before creation.
 *  - Only the last 200 writes of the last two minutes are drawn; the page remembers 1000 events.
 */
import { errorMessage } from './format.ts';
import { emptyPageState, hasBeenRead } from './page-state.ts';
import { pollReplicas } from './poll.ts';
import { renderDiagram } from './render-diagram.ts';
import { renderClock, renderHeader, renderPeers, renderReach, renderShards, renderStatus, renderSummary, renderTail } from './render-tables.ts';

const pollMs = 500;
const state = emptyPageState();

function render(): void {
  if (!hasBeenRead(state)) return;
  renderHeader(state);
  renderSummary(state);
  renderShards(state);
  renderClock(state);
  renderReach(state);
  renderPeers(state);
  renderDiagram(state, pollMs);
  renderTail(state);
}

/** Polls, draws, and polls again `pollMs` after this poll began (at least 50 ms after it ended). */
async function tick(): Promise<void> {
  const started = Date.now();
  renderStatus(await pollReplicas(state));
  state.events.prune();
  try {
    render();
  } catch (err) {
    renderStatus({ ok: false, text: `render failed: ${errorMessage(err)}` });
  }
  setTimeout(tick, Math.max(50, pollMs - (Date.now() - started)));
}

void tick();
