import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON lines on stdout. One line per view change, peer down/up, join, and error. */
export function createLogger(level: string, address: string): Logger {
  return pino({ level, base: { replica: address }, timestamp: pino.stdTimeFunctions.isoTime });
}
