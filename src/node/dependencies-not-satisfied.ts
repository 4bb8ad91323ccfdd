import { ExpectedError } from '../../events/expected-error.ts';

/** A client request whose causal dependencies did not arrive in time: the API's 503. */
export class DependenciesNotSatisfied extends ExpectedError {
  constructor() {
    super('Causal dependencies not satisfied; try again later', 503);
    this.name = 'DependenciesNotSatisfied';
  }
}
