/**
 * A failure that is part of the contract, never a bug: the request is refused and nothing else
 * changes. It carries the HTTP status to answer with, and whether its message may be shown to the
 * client (`expose`; when false the client gets only a generic text for the status). Every such
 * failure derives from this class, and the HTTP boundary (src/http/errors.ts `errorAnswer`) turns
 * it into an answer without knowing the subclasses; anything else thrown is a bug (500).
 */
export class ExpectedError extends Error {
  readonly status: number;
  readonly expose: boolean;
  /** More fields of the answer's body, beside `error` (shown only when exposed). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(message: string, status: number, expose = true, details?: Readonly<Record<string, unknown>>) {
    super(message);
    this.name = 'ExpectedError';
    this.status = status;
    this.expose = expose;
    this.details = details;
  }
}
