import { expect, test } from 'bun:test';
import { numbering } from '../domain/outbox/sequence';

/** What the statement would give each id: `id + offset` of the range holding it, or none. */
function apply(ids: number[], top: number): Map<number, number> {
  const { set, where, params } = numbering(ids, top);
  const ranges = where.split(' OR ').length;
  const rangeParams = params.slice(params.length - 2 * ranges) as number[];
  const seqOf = new Map<number, number>();
  const runs = set.includes('CASE')
    ? Array.from({ length: ranges }, (_, i) => params.slice(3 * i, 3 * i + 3) as number[])
    : [[rangeParams[0], rangeParams[1], params[0]] as number[]];
  for (let id = (ids[0] ?? 0) - 2; id <= (ids.at(-1) ?? 0) + 2; id++) {
    const inWhere = Array.from({ length: ranges }, (_, i) => [
      rangeParams[2 * i],
      rangeParams[2 * i + 1],
    ]).some(([a, b]) => id >= (a as number) && id <= (b as number));
    if (!inWhere) continue;
    const run = runs.find(([a, b]) => id >= (a as number) && id <= (b as number));
    seqOf.set(id, id + (run?.[2] as number));
  }
  return seqOf;
}

test('ids are numbered after the top in their order, only the named ids are touched, runs make the statement', () => {
  // One run: a single offset, no CASE.
  expect(numbering([5, 6, 7], 10)).toEqual({
    set: '`id` + ?',
    where: '`id` BETWEEN ? AND ?',
    params: [6, 5, 7],
  });
  // Holes (an open transaction's id 4, rolled-back 8 and 9): three runs, each id once, in order.
  const ids = [2, 3, 5, 6, 7, 10];
  const seq = apply(ids, 100);
  expect([...seq.keys()]).toEqual(ids);
  expect(ids.map((id) => seq.get(id))).toEqual([101, 102, 103, 104, 105, 106]);
  expect(numbering(ids, 100).where.split(' OR ')).toHaveLength(3);
  // Every id alone (no two consecutive): still each numbered once, in order.
  const sparse = [1, 3, 5, 7];
  expect(sparse.map((id) => apply(sparse, 0).get(id))).toEqual([1, 2, 3, 4]);
});
