// Preloaded (node --import) into a replica run from source by test/integration/invariant-crash.test.ts:
// breaks an invariant on purpose, where BREAK_INVARIANT says, to show the process dies of it.
//   request: every client read hits an InvariantViolation inside its request handler
//   timer:   compaction (run from the node's wake-up timer) hits one
import { InvariantViolation } from '../../src/core/assert.ts';
import { Replica } from '../../src/core/replica.ts';
import { ReplicaNode } from '../../src/node/replica-node.ts';

const where = process.env.BREAK_INVARIANT;
if (where === 'request') {
  ReplicaNode.prototype.read = () => {
    throw new InvariantViolation('broken on purpose in a request');
  };
} else if (where === 'timer') {
  Replica.prototype.compact = () => {
    throw new InvariantViolation('broken on purpose in a timer');
  };
}
