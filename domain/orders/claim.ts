import { and, eq, inArray, sql } from 'drizzle-orm';
import type { AnyMySqlColumn } from 'drizzle-orm/mysql-core';
import type { Db } from '../../db/client';
import { orders, payments } from '../../db/schema';
import { newId } from '../../lib/ids';
import { chargeKey } from '../payments/gateway';

/**
 * The claim before money moves: makes the payment rows of the orders that are still `reserved`, and
 * tells whether that was all of them (the single-order path claims its one order the same way). One `INSERT … SELECT` from their order rows: the select is a locking read (shared locks, held
 * until the insert commits), so the status it sees is the latest, and a cancel that comes after it
 * waits for the row and then finds it (and owes its refund). An order no longer reserved gets no row:
 * nothing was charged and nothing will be. A row made by an earlier attempt stays as it is (the
 * unique order_id and idempotency key), counted as found: mysql2 asks for found rows, so the count is
 * the number of orders found reserved, and it equals the batch's size only when every one was.
 *
 * Still built with drizzle's `sql` (one statement per batch): test/small-batches.test.ts commits a
 * cancel at exactly this statement by catching it in `db.execute`.
 */
/** A column as an INSERT names it: unqualified. */
const column = (c: AnyMySqlColumn) => sql`${sql.identifier(c.name)}`;

export async function claimPayments(db: Db, due: { id: string }[]): Promise<boolean> {
  const now = new Date();
  const o = sql`${orders.id}`;
  const byOrder = (value: (row: { id: string }) => string) =>
    sql`CASE ${o} ${sql.join(
      due.map((row) => sql`WHEN ${row.id} THEN ${value(row)}`),
      sql` `,
    )} END`;
  const [res] = await db.execute(
    sql`INSERT INTO ${payments} (${column(payments.id)}, ${column(payments.orderId)}, ${column(payments.status)},
        ${column(payments.amountCents)}, ${column(payments.currency)}, ${column(payments.idempotencyKey)},
        ${column(payments.createdAt)}, ${column(payments.updatedAt)})
      SELECT ${byOrder(() => newId('pay'))}, ${orders.id}, 'pending', ${orders.totalCents}, ${orders.currency},
        ${byOrder((row) => chargeKey(row.id))}, ${now}, ${now}
      FROM ${orders} FORCE INDEX (PRIMARY)
      WHERE ${and(
        inArray(
          orders.id,
          due.map((row) => row.id),
        ),
        eq(orders.status, 'reserved'),
      )}
      ON DUPLICATE KEY UPDATE ${column(payments.orderId)} = ${payments.orderId}`,
  );
  return (res as { affectedRows: number }).affectedRows === due.length;
}
