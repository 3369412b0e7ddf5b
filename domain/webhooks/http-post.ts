import type { ResolvedAddress } from './addresses';

export interface PostResult {
  /** The HTTP status, when an answer came. */
  status?: number;
  /** What went wrong, when the answer was not a 2xx (or none came). */
  error?: string;
  /**
   * The kind of failure, for a trace: the status code of a non-2xx answer, `timeout`, or the socket
   * error's code (`ECONNREFUSED`); never text that may quote an address or a header.
   */
  errorType?: string;
}

/** Bytes of an answer's body read at most: a receiver's answer is only logged, never trusted. */
const BODY_CAP = 4096;

/**
 * POSTs to the URL, connecting to `pinned` (the address the SSRF guard checked) whatever the name
 * resolves to now: the request goes to the address itself, with the URL's host in the `Host` header
 * and, on https, as the TLS server name, so SNI and the certificate check are for the URL's name, not
 * the address (a certificate that is not the name's fails the send). Redirects are answers, never
 * followed (a 3xx to an internal address would be the guard's way round). The whole exchange has
 * `timeoutMs`; the body is read up to a small cap, then dropped.
 *
 * Bun's fetch, not node:http: it is native and keeps connections alive by itself, at half the CPU per
 * send (bench/README.md). Its pool is keyed by the address and port the request names and by the
 * TLS options, server name included (checked: a connection verified for one name is never reused
 * for another on the same address, test/webhook-https.test.ts), and our lanes bound how many sends
 * run at once per endpoint.
 */
export async function postPinned(
  url: URL,
  pinned: ResolvedAddress,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  opts: { ca?: string | undefined } = {},
): Promise<PostResult> {
  const https = url.protocol === 'https:';
  const host = pinned.family === 6 ? `[${pinned.address}]` : pinned.address;
  const port = url.port ? `:${url.port}` : '';
  const target = `${url.protocol}//${host}${port}${url.pathname}${url.search}`;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(target, {
      method: 'POST',
      body,
      redirect: 'manual',
      signal,
      headers: { ...headers, host: url.host, 'content-type': 'application/json' },
      ...(https ? { tls: { serverName: url.hostname, ...(opts.ca ? { ca: opts.ca } : {}) } } : {}),
    });
    await drain(res);
    const status = res.status;
    if (status >= 200 && status < 300) return { status };
    if (status >= 300 && status < 400)
      return {
        status,
        error: `redirect to ${res.headers.get('location') ?? '(none)'} not followed`,
        errorType: String(status),
      };
    return { status, error: `answered ${status}`, errorType: String(status) };
  } catch (err) {
    if (signal.aborted) return { error: `no answer within ${timeoutMs} ms`, errorType: 'timeout' };
    const e = err as Error & { code?: string };
    return { error: e.message.slice(0, 200), errorType: e.code ?? e.name };
  }
}

/** Reads the answer's body up to the cap (the connection goes back to the pool), then gives up on it. */
async function drain(res: Response): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    read += value.byteLength;
    if (read > BODY_CAP) {
      await reader.cancel();
      return;
    }
  }
}
