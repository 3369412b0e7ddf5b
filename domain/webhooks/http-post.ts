import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedAddress } from './addresses';

export interface PostResult {
  /** The HTTP status, when an answer came. */
  status?: number;
  /** What went wrong, when the answer was not a 2xx (or none came). */
  error?: string;
}

/** Bytes of an answer's body read at most: a receiver's answer is only logged, never trusted. */
const BODY_CAP = 4096;

/**
 * POSTs to the URL, connecting to `pinned` (the address the SSRF guard checked) whatever the name
 * resolves to now: the connection's lookup answers with it. TLS still verifies the certificate for
 * the URL's name (SNI and the Host header come from the URL). Redirects are answers, never followed
 * (a 3xx to an internal address would be the guard's way round). The whole exchange has `timeoutMs`;
 * the body is read up to a small cap, then the connection is dropped.
 */
export function postPinned(
  url: URL,
  pinned: ResolvedAddress,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  ca?: string,
): Promise<PostResult> {
  const lookup: LookupFunction = (_host, options, callback) => {
    if (options.all) (callback as (e: null, a: ResolvedAddress[]) => void)(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = client.request(
      url,
      {
        method: 'POST',
        lookup,
        ...(ca ? { ca } : {}),
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > BODY_CAP) res.destroy();
        });
        const finish = () => {
          if (status >= 200 && status < 300) done({ status });
          else if (status >= 300 && status < 400)
            done({ status, error: `redirect to ${res.headers.location ?? '(none)'} not followed` });
          else done({ status, error: `answered ${status}` });
        };
        res.on('end', finish);
        res.on('close', finish);
        res.on('error', finish);
      },
    );
    const timer = setTimeout(() => {
      done({ error: `no answer within ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => done({ error: err.message.slice(0, 200) }));
    req.end(body);
  });
}
