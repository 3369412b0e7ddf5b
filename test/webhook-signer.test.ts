import { expect, test } from 'bun:test';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { WebhookSigner } from '../domain/webhooks/signer';

test('our native signer signs exactly as the standardwebhooks package does, and its signature verifies', () => {
  for (let i = 0; i < 50; i++) {
    const secret = `whsec_${randomBytes(24 + i).toString('base64')}`;
    const id = `evt_${i}`;
    const at = new Date(1_700_000_000_000 + i * 1234);
    // Bodies with multi-byte characters and quotes: the signature is over the UTF-8 bytes.
    const body = JSON.stringify({ id, note: `Zoë “${'ü'.repeat(i)}” 💳`, n: i });
    const ours = new WebhookSigner(secret).sign(id, at, body);
    expect(ours).toBe(new Webhook(secret).sign(id, at, body));
    const headers = {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': new WebhookSigner(secret).sign(id, new Date(), body),
    };
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  }
  expect(() => new WebhookSigner('whsec_')).toThrow();
});
