// Text as the page shows it.

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** A moment as a local time of day, to the millisecond. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function ago(ms: number | null): string {
  if (ms === null) return '–';
  return ms < 1000 ? `${ms} ms ago` : `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s ago`;
}

/** At most `max` characters, an ellipsis standing for the rest. */
export function short(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
