import { ExpectedError } from '../../events/expected-error.ts';

/** A view change refused because the view already holds `membersMax` replicas: answered 507. */
export class ViewFullError extends ExpectedError {
  constructor(readonly membersMax: number) {
    super(`view is full (${membersMax} replicas at most)`, 507);
    this.name = 'ViewFullError';
  }
}
