import { ExpectedError } from './expected-error.ts';

/**
 * Bad input from outside (a client or a peer). Expected, never a bug: the shell maps it to a 4xx
 * answer and nothing changes. `status` is the HTTP status the shell should answer with.
 */
export class ValidationError extends ExpectedError {
  constructor(message: string, status = 400) {
    super(message, status);
    this.name = 'ValidationError';
  }
}
