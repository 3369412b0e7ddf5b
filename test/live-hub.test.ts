import { afterAll, expect, test } from 'bun:test';
import { OrderEventHub, type PublishedChange } from '../api/live/hub';
import { createRedis } from '../lib/redis';
import { orderEventsChannel, RedisOrderEvents } from '../wiring/order-events';
import { uniqueSuffix } from './support/harness';
import { eventually } from './support/workers';

// The hub and the publisher against a real Redis: one message per committed batch on one shared
// channel, each change handed to its own order's followers, and no subscription while nobody follows.
const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = createRedis(url, 'worker', 'live-hub-test');
const prefix = `oftest_${uniqueSuffix()}`;
const channel = orderEventsChannel(prefix);
const events = new RedisOrderEvents(redis, prefix);

afterAll(() => {
  redis.disconnect();
});

const subscribers = async () => {
  const [, n] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
  return Number(n);
};
const change = (orderId: string, from: 'pending' | 'reserved', to: 'reserved' | 'paid') => ({
  orderId,
  from,
  to,
  at: new Date(),
});

test('a committed batch is one message; each change wakes its own order, the all feed gets every one', async () => {
  // An outside listener counts the messages on the channel.
  const listener = redis.duplicate();
  const messages: string[] = [];
  // A marker published after a commit on the same connection arrives after everything that commit
  // published (Redis delivers one connection's publishes in order): once it is in, nothing more can come.
  const markerChannel = `${channel}:test-marker`;
  const markers: string[] = [];
  listener.on('message', (c: string, m: string) => (c === markerChannel ? markers : messages).push(m));
  await listener.subscribe(channel, markerChannel);
  const settled = async (name: string) => {
    await redis.publish(markerChannel, name);
    await eventually(() => markers.includes(name), `the marker ${name}`, 5000);
  };

  const hub = new OrderEventHub(redis, prefix);
  const woken = { a: 0, b: 0, quiet: 0 };
  const a = hub.follow('ord_a', (why) => why === 'event' && woken.a++);
  const b = hub.follow('ord_b', (why) => why === 'event' && woken.b++);
  const quiet = hub.follow('ord_quiet', (why) => why === 'event' && woken.quiet++);
  const all: PublishedChange[] = [];
  const stopAll = hub.followAll((c) => all.push(c));
  await a.ready(5000);
  expect(a.healthy()).toBe(true);
  // The channel is already confirmed: a later follower can rely on it at once.
  expect(quiet.healthy()).toBe(true);
  expect(hub.status).toMatchObject({ connected: true, channels: 3, pending: 0, allFeed: true });

  await events.committed(
    [
      change('ord_a', 'pending', 'reserved'),
      change('ord_b', 'pending', 'reserved'),
      change('ord_a', 'reserved', 'paid'),
    ],
    [],
  );
  await eventually(
    () => all.length === 3 && messages.length > 0,
    'the batch on the all feed and the listener',
  );
  await settled('after the batch');
  expect(messages).toHaveLength(1);
  expect(woken).toEqual({ a: 2, b: 1, quiet: 0 });
  expect(all.map((c) => `${c.orderId}:${c.from}->${c.to}`)).toEqual([
    'ord_a:pending->reserved',
    'ord_b:pending->reserved',
    'ord_a:reserved->paid',
  ]);
  // A commit without a transition (stock only) publishes nothing.
  await events.committed([], ['prd_x']);
  await settled('after the stock-only commit');
  expect(messages).toHaveLength(1);

  a.close();
  b.close();
  quiet.close();
  stopAll();
  hub.close();
  listener.disconnect();
});

test('the hub subscribes while someone follows and unsubscribes when nobody does', async () => {
  const hub = new OrderEventHub(redis, prefix);
  expect(await subscribers()).toBe(0);
  const one = hub.follow('ord_1', () => {});
  const two = hub.follow('ord_2', () => {});
  await one.ready(5000);
  expect(await subscribers()).toBe(1);
  one.close();
  await Bun.sleep(50);
  expect(await subscribers()).toBe(1);
  two.close();
  await eventually(async () => (await subscribers()) === 0, 'unsubscribed');
  expect(hub.status).toMatchObject({ channels: 0, allFeed: false });

  // The all feed alone holds the subscription, and a follower arriving right after a release
  // subscribes again (the answer to the earlier UNSUBSCRIBE confirms nothing).
  const stop = hub.followAll(() => {});
  await eventually(() => hub.status.allFeed, 'the all feed subscribed');
  stop();
  const again = hub.follow('ord_3', () => {});
  await again.ready(5000);
  expect(again.healthy()).toBe(true);
  expect(await subscribers()).toBe(1);
  expect(hub.status.allFeed).toBe(false);
  again.close();
  await eventually(async () => (await subscribers()) === 0, 'unsubscribed again');
  hub.close();
});
