import { desc, eq } from 'drizzle-orm';
import type { RowDataPacket } from 'mysql2';
import type { Db } from '../../db/client';
import { webhookDeliveries, webhookEndpoints } from '../../db/schema';
import { newId } from '../../lib/ids';
import { DomainError, notFound } from '../errors';
import { eventTypes } from '../outbox/types';
import { encryptPii } from '../users/pii';
import { checkedTarget, checkUrlShape, type Guard, TargetRefused } from './addresses';

export interface EndpointView {
  id: string;
  url: string;
  events: string[];
  description?: string;
  status: 'enabled' | 'disabled';
  disabledReason?: string;
  createdAt: string;
  updatedAt: string;
}

type EndpointRow = typeof webhookEndpoints.$inferSelect;

export function endpointView(r: EndpointRow): EndpointView {
  return {
    id: r.id,
    url: r.url,
    events: r.events.split(','),
    ...(r.description ? { description: r.description } : {}),
    status: r.status,
    ...(r.disabledReason ? { disabledReason: r.disabledReason } : {}),
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

const refused = (field: string, message: string) =>
  new DomainError('unprocessable', `${field}: ${message}`, [{ field, message }]);

/** The URL as saved: its shape, and (unless private targets are allowed) every address its host has now. */
async function checkUrl(raw: string, guard: Guard): Promise<string> {
  try {
    const url = checkUrlShape(raw, guard.allowPrivate);
    await checkedTarget(url, guard);
    return url.toString();
  } catch (err) {
    if (err instanceof TargetRefused) throw refused('url', err.message);
    throw err;
  }
}

function checkEvents(events: string[]): string {
  if (events.length === 1 && events[0] === '*') return '*';
  const unknown = events.filter((e) => !(eventTypes as readonly string[]).includes(e));
  if (unknown.length || events.length === 0)
    throw refused(
      'events',
      unknown.length ? `unknown event type: ${unknown.join(', ')}` : 'name at least one',
    );
  return [...new Set(events)].join(',');
}

/** A new signing secret in the Standard Webhooks form: `whsec_` and 24 random bytes in base64. */
const newSecret = () => `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64')}`;

export async function createEndpoint(
  db: Db,
  key: Uint8Array<ArrayBuffer>,
  input: { url: string; events: string[]; description?: string | undefined },
  guard: Guard,
): Promise<EndpointView & { secret: string }> {
  const url = await checkUrl(input.url, guard);
  const events = checkEvents(input.events);
  const secret = newSecret();
  // The endpoint hears of what happens from now on: its place in the outbox starts at the newest
  // numbered event, read before its creation time is taken (so every event up to that place
  // happened before it, and a later-numbered one that did is still left out by its time).
  const afterSeq = await newestSeq(db);
  const now = new Date();
  const row: EndpointRow = {
    id: newId('whe'),
    url,
    events,
    description: input.description ?? null,
    secretEnc: await encryptPii(key, secret),
    status: 'enabled',
    disabledReason: null,
    failingSince: null,
    afterSeq,
    createdAt: now,
    updatedAt: now,
  };
  await db.insert(webhookEndpoints).values(row);
  return { ...endpointView(row), secret };
}

export async function listEndpoints(db: Db): Promise<EndpointView[]> {
  const rows = await db.select().from(webhookEndpoints).orderBy(desc(webhookEndpoints.createdAt));
  return rows.map(endpointView);
}

export async function getEndpointRow(db: Db, id: string): Promise<EndpointRow> {
  const [row] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id)).limit(1);
  if (!row) throw notFound('Webhook endpoint');
  return row;
}

export async function updateEndpoint(
  db: Db,
  id: string,
  patch: {
    url?: string | undefined;
    events?: string[] | undefined;
    status?: 'enabled' | 'disabled' | undefined;
  },
  guard: Guard,
): Promise<EndpointView> {
  const current = await getEndpointRow(db, id);
  const set: Partial<EndpointRow> = { updatedAt: new Date() };
  if (patch.url !== undefined) set.url = await checkUrl(patch.url, guard);
  if (patch.events !== undefined) set.events = checkEvents(patch.events);
  // Enabled again, an endpoint is sent what happens from then on, as when it was created: what
  // happened while it was disabled is not owed (its retries due then ended failed).
  if (patch.status === 'enabled') {
    Object.assign(set, { status: 'enabled', disabledReason: null, failingSince: null });
    if (current.status !== 'enabled') set.afterSeq = await newestSeq(db);
  }
  if (patch.status === 'disabled')
    Object.assign(set, { status: 'disabled', disabledReason: 'disabled by request' });
  await db.update(webhookEndpoints).set(set).where(eq(webhookEndpoints.id, id));
  return endpointView(await getEndpointRow(db, id));
}

/** Deletes the endpoint and its delivery log: a job still queued for it finds nothing and sends nothing. */
export async function deleteEndpoint(db: Db, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const [res] = await tx.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id));
    if (res.affectedRows !== 1) throw notFound('Webhook endpoint');
    await tx.delete(webhookDeliveries).where(eq(webhookDeliveries.endpointId, id));
  });
}

/** The newest numbered event's `seq` (0 for an empty outbox). */
async function newestSeq(db: Db): Promise<number> {
  const [[row]] = await db.$client.query<({ seq: number | null } & RowDataPacket)[]>(
    'SELECT MAX(`seq`) AS `seq` FROM `events`',
  );
  return Number(row?.seq ?? 0);
}
