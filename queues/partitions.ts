/**
 * Flow families. One BullMQ queue lives on one Redis node (its keys share the prefix's hash tag), so
 * one family of queues can use one node's CPU. QUEUE_PARTITIONS=K spreads orders by id over K
 * families, each under its own hash-tagged prefix, which a Redis Cluster places on different nodes.
 */

/**
 * Queues that exist once, in partition 0, whatever K: `deliver` is bound by the email provider's
 * request window (one Redis key for every process), not by a node's CPU, and one queue gathers the
 * messages that fill the provider's batch requests; `maintenance` holds the reconciler's one schedule
 * (it covers every partition); `webhooks` is fed by one outbox, whatever the partition of an order.
 */
export const unpartitionedQueues: readonly string[] = ['deliver', 'maintenance', 'webhooks'];

/** Whether partition `partition` has queue `queue`. */
export const partitionHas = (partition: number, queue: string) =>
  partition === 0 || !unpartitionedQueues.includes(queue);

/** The prefix without hash-tag braces: `{orderflow}` and `orderflow` name the same deployment. */
export function basePrefix(prefix: string): string {
  return prefix.replace(/[{}]/g, '');
}

/**
 * The queue key prefix of every partition. One partition keeps QUEUE_PREFIX as it is (so a single
 * Redis sees the keys it always had; on a cluster QUEUE_PREFIX is hash-tagged already, lib/config.ts);
 * K > 1 gives `{<base>-0}` … `{<base>-(K-1)}`: the braces make each family one cluster slot.
 */
export function partitionPrefixes(prefix: string, partitions: number): string[] {
  if (partitions <= 1) return [prefix];
  const base = basePrefix(prefix);
  return Array.from({ length: partitions }, (_, i) => `{${base}-${i}}`);
}

/**
 * The partition of an order (or of a message without an order): FNV-1a of the id, modulo K. Stable
 * across processes and restarts, so the API, every worker and the reconciler agree without asking.
 */
export function partitionOf(id: string, partitions: number): number {
  if (partitions <= 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

/**
 * `--partitions 0,2`: the partitions a worker process serves (all when omitted). Throws a message that
 * names the flag for a value out of range.
 */
export function parsePartitions(value: string | undefined, partitions: number): number[] {
  const all = Array.from({ length: partitions }, (_, i) => i);
  if (value === undefined) return all;
  const picked = value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const bad = picked.filter((p) => !/^\d+$/.test(p) || Number(p) >= partitions);
  if (!picked.length || bad.length) {
    throw new Error(
      `--partitions: ${bad.length ? `unknown partition ${bad.join(', ')}` : 'empty'} (QUEUE_PARTITIONS=${partitions}: 0..${partitions - 1})`,
    );
  }
  return [...new Set(picked.map(Number))].sort((a, b) => a - b);
}

/** BullMQ's list of waiting job ids for a queue: what KEDA's redis scalers read with LLEN. */
export const waitListKey = (prefix: string, queue: string) => `${prefix}:${queue}:wait`;
