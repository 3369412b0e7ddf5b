/**
 * AES-256-GCM for personal data at rest. The stored form is "v1.<iv>.<ciphertext+tag>" (base64url)
 * so a later key can be introduced as "v2" without rewriting old rows first.
 */
const VERSION = 'v1';

async function importKey(raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

export async function encryptPii(key: Uint8Array<ArrayBuffer>, plain: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv },
    await importKey(key),
    new TextEncoder().encode(plain),
  );
  return `${VERSION}.${Buffer.from(iv).toString('base64url')}.${Buffer.from(sealed).toString('base64url')}`;
}

export async function decryptPii(key: Uint8Array<ArrayBuffer>, stored: string): Promise<string> {
  const [version, iv, sealed] = stored.split('.');
  if (version !== VERSION || !iv || !sealed) throw new Error('unknown PII envelope');
  const plain = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: Buffer.from(iv, 'base64url') },
    await importKey(key),
    Buffer.from(sealed, 'base64url'),
  );
  return new TextDecoder().decode(plain);
}
