/**
 * An ERP that follows Orderflow as another system would: with an API key, not a person's login.
 *
 *   1. An admin signs in once and creates an API key for the ERP (shown once; the ERP keeps it).
 *   2. The ERP starts a receiver, registers it as a webhook endpoint for `order.completed` and keeps
 *      the signing secret (shown once); it verifies every delivery with the Standard Webhooks library
 *      and de-duplicates by `webhook-id` (deliveries may repeat).
 *   3. It notes where the events feed is now (`GET /events` to its end).
 *   4. Orders placed by customers complete: the ERP hears of each one by webhook.
 *   5. It goes offline for a while (its receiver stops); customers keep buying.
 *   6. Back online, it catches up through `GET /events?after=<cursor>`, in commit order, missing
 *      nothing, however the webhook retries are getting on.
 *
 * Run it against a server started with WEBHOOK_ALLOW_PRIVATE=on (its receiver is on this machine):
 *   API=http://localhost:3000 ADMIN_EMAIL=… ADMIN_PASSWORD=… bun run examples/erp.ts
 * test/erp-example.test.ts runs the same steps against a live server.
 */
import { Webhook } from 'standardwebhooks';
import { createOrderflowClient, type OrderflowClient } from '../client';

interface CompletedOrder {
  orderId: string;
  /** How the ERP heard of it. */
  via: 'webhook' | 'events';
}

export interface Erp {
  /** Completed orders the ERP knows of, by order id. */
  completed: Map<string, CompletedOrder>;
  /** Deliveries that failed signature verification (none, unless someone forges them). */
  rejected: number;
  /** Waits until each of these orders is known to be completed. */
  waitFor(orderIds: string[], timeoutMs?: number): Promise<void>;
  /** The receiver stops: deliveries fail (Orderflow retries them later). */
  goOffline(): Promise<void>;
  /** An order's status, read with the ERP's key (`orders:read`). */
  status(orderId: string): Promise<string | undefined>;
  /** Back online: reads every event since the last one seen; returns the orders learnt this way. */
  catchUp(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startErp(opts: {
  baseUrl: string;
  adminEmail: string;
  adminPassword: string;
}): Promise<Erp> {
  // 1. The admin's one-time setup: a key with just what the ERP needs.
  const admin = createOrderflowClient(opts.baseUrl);
  const login = await admin.POST('/auth/login', {
    body: { email: opts.adminEmail, password: opts.adminPassword },
  });
  if (!login.data) throw new Error(`admin login failed: ${JSON.stringify(login.error)}`);
  admin.setToken(login.data.accessToken);
  const key = await admin.POST('/api-keys', {
    body: { name: 'erp', scopes: ['events:read', 'webhooks:manage', 'orders:read'] },
  });
  if (!key.data) throw new Error(`no API key: ${JSON.stringify(key.error)}`);
  // From here on the ERP speaks with its key only.
  const api: OrderflowClient = createOrderflowClient(opts.baseUrl, { token: key.data.key });

  // 2. The receiver, verifying every delivery before believing it.
  const completed = new Map<string, CompletedOrder>();
  const seenEvents = new Set<string>();
  let secret = '';
  let rejected = 0;
  const receiver = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const body = await req.text();
      let event: { id: string; type: string; data: { id: string } };
      try {
        event = new Webhook(secret).verify(body, Object.fromEntries(req.headers.entries())) as typeof event;
      } catch {
        rejected++;
        return new Response('signature does not verify', { status: 400 });
      }
      if (!seenEvents.has(event.id)) {
        seenEvents.add(event.id);
        if (event.type === 'order.completed' && !completed.has(event.data.id))
          completed.set(event.data.id, { orderId: event.data.id, via: 'webhook' });
      }
      return new Response(null, { status: 204 });
    },
  });
  const endpoint = await api.POST('/webhook-endpoints', {
    body: {
      url: `http://127.0.0.1:${receiver.port}/orderflow`,
      events: ['order.completed'],
      description: 'ERP',
    },
  });
  if (!endpoint.data) throw new Error(`endpoint refused: ${JSON.stringify(endpoint.error)}`);
  secret = endpoint.data.secret;

  // 3. Where the feed is now: everything before is history the ERP does not need.
  let cursor: string | undefined;
  const readFeed = async (): Promise<{ id: string; type: string; data: Record<string, unknown> }[]> => {
    const read: { id: string; type: string; data: Record<string, unknown> }[] = [];
    for (;;) {
      const page = await api.GET('/events', {
        params: { query: { limit: 500, types: 'order.completed', ...(cursor ? { after: cursor } : {}) } },
      });
      if (!page.data) throw new Error(`events: ${JSON.stringify(page.error)}`);
      cursor = page.data.nextCursor;
      read.push(...page.data.data);
      if (page.data.data.length === 0) return read;
    }
  };
  await readFeed();
  let online = true;

  return {
    completed,
    get rejected() {
      return rejected;
    },
    async waitFor(orderIds, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!orderIds.every((id) => completed.has(id))) {
        if (Date.now() > deadline)
          throw new Error(`not all of ${orderIds.join(', ')} heard of in ${timeoutMs} ms`);
        await Bun.sleep(50);
      }
    },
    async status(orderId) {
      return (await api.GET('/orders/{id}', { params: { path: { id: orderId } } })).data?.status;
    },
    async goOffline() {
      online = false;
      await receiver.stop(true);
    },
    async catchUp() {
      const learnt: string[] = [];
      for (const e of await readFeed()) {
        const orderId = String(e.data.id);
        if (seenEvents.has(e.id) || completed.has(orderId)) continue;
        seenEvents.add(e.id);
        completed.set(orderId, { orderId, via: 'events' });
        learnt.push(orderId);
      }
      return learnt;
    },
    async stop() {
      if (online) await receiver.stop(true);
      await api.DELETE('/webhook-endpoints/{id}', { params: { path: { id: endpoint.data.id } } });
    },
  };
}

/** A customer buying something, as the demo's shop front would (a person, signed in; never a key). */
async function customerBuys(baseUrl: string, admin: { email: string; password: string }): Promise<string> {
  const shopAdmin = createOrderflowClient(baseUrl);
  const login = await shopAdmin.POST('/auth/login', { body: admin });
  shopAdmin.setToken(login.data?.accessToken);
  const product = await shopAdmin.POST('/products', {
    body: {
      sku: `ERP-${crypto.randomUUID()}`,
      name: 'Pallet',
      priceCents: 9900,
      currency: 'EUR',
      available: 5,
    },
  });
  const me = createOrderflowClient(baseUrl);
  const email = `buyer-${crypto.randomUUID()}@example.com`;
  await me.POST('/auth/register', { body: { email, password: 'correct horse battery', name: 'Buyer' } });
  const session = await me.POST('/auth/login', { body: { email, password: 'correct horse battery' } });
  me.setToken(session.data?.accessToken);
  const order = await me.POST('/orders', {
    body: { items: [{ productId: product.data?.id ?? '', quantity: 1 }], payment: { token: 'tok_visa' } },
  });
  if (!order.data) throw new Error(`order refused: ${JSON.stringify(order.error)}`);
  return order.data.id;
}

if (import.meta.main) {
  const baseUrl = process.env.API ?? 'http://localhost:3000';
  const admin = { email: process.env.ADMIN_EMAIL ?? '', password: process.env.ADMIN_PASSWORD ?? '' };
  const erp = await startErp({ baseUrl, adminEmail: admin.email, adminPassword: admin.password });
  const first = [await customerBuys(baseUrl, admin), await customerBuys(baseUrl, admin)];
  await erp.waitFor(first);
  console.log('heard by webhook:', first);
  await erp.goOffline();
  const missed = [await customerBuys(baseUrl, admin), await customerBuys(baseUrl, admin)];
  // They complete while the ERP is away.
  while ((await Promise.all(missed.map((id) => erp.status(id)))).some((st) => st !== 'completed'))
    await Bun.sleep(200);
  console.log('caught up through GET /events:', await erp.catchUp(), 'placed while away:', missed);
  await erp.stop();
}
