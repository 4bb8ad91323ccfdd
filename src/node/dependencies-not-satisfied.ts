/** A client request whose causal dependencies did not arrive in time: the API's 503. */
export class DependenciesNotSatisfied extends Error {
  constructor() {
    super('Causal dependencies not satisfied; try again later');
  }
}
