import type { Address } from '../../events/ids.ts';

const colors = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];
const notALaneColor = '#9aa1ad';

/** Each replica's color wherever the page shows it: by its place among the lanes. */
export function laneColor(lanes: readonly Address[], address: Address): string {
  const i = lanes.indexOf(address);
  return i < 0 ? notALaneColor : colors[i % colors.length]!;
}
