/** `PUT /view` of a new member when the view already holds `membersMax` replicas. */
export class ViewFullError extends Error {
  constructor(readonly membersMax: number) {
    super(`view is full (${membersMax} replicas at most)`);
  }
}
