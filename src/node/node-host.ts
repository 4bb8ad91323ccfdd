import type { ReplicaNode } from './replica-node.ts';

/**
 * Where the HTTP layer finds the node to serve from, read anew on every request. Unsharded, always
 * the same node; sharded (src/shard/sharded-node.ts), the node of this process's current replica
 * group, which a reshard or an add-member replaces with a new life in another group.
 */
export interface NodeHost {
  readonly node: ReplicaNode;
}

export function fixedHost(node: ReplicaNode): NodeHost {
  return { node };
}
