/**
 * Bad input from outside (a client or a peer). Expected, never a bug: the shell maps it to a 4xx
 * answer and nothing changes. `status` is the HTTP status the shell should answer with.
 */
export class ValidationError extends Error {
  readonly status: number;

  constructor(message: string, status = 400) {
    super(message);
    this.name = 'ValidationError';
    this.status = status;
  }
}
