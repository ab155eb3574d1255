/**
 * One life of a simulated node, from a start to its crash. Timers, in-flight messages and replies
 * belong to the incarnation that made them or that they were addressed to; once it is dead they are
 * dropped silently, as SIGKILL drops a process's timers and its sockets' unread bytes. A restart is a
 * new incarnation, so nothing of the old life can leak into the new one.
 */
/** The coordinator's node name on the simulated network (shards go by their names, clients by `client-N`). */
export const COORDINATOR_NODE = 'coordinator';

export class Incarnation {
  alive = true;

  constructor(
    /** The node's name: 'coordinator', a shard name, or a client's. */
    readonly node: string,
    /** 1 for the first start, then one more per restart. */
    readonly life: number,
  ) {}

  get label(): string {
    return `${this.node}#${this.life}`;
  }
}
