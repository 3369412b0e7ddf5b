import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
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
 * An idle agent (and its sockets) is dropped after this long: below the 5 s after which common
 * servers (Node's default keepAliveTimeout) close an idle keep-alive connection, so a send rarely
 * lands on a socket the server is closing.
 */
const AGENT_IDLE_MS = 4000;

interface HeldAgent {
  agent: http.Agent;
  inFlight: number;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Keep-alive agents, one per (origin, pinned address, trusted CA): a batch's sends to an endpoint
 * reuse a few connections instead of opening one each. Keyed by the pinned address, so a socket is
 * only ever reused for a send whose guard check chose that same address; a name that now resolves
 * elsewhere gets a new agent and new connections. TLS options stay per request (the certificate is
 * checked for the URL's name on every new connection).
 */
const agents = new Map<string, HeldAgent>();

function heldAgent(url: URL, pinned: ResolvedAddress, maxSockets: number, ca?: string): HeldAgent {
  const key = `${url.protocol}//${url.host}|${pinned.address}|${maxSockets}|${ca ?? ''}`;
  const found = agents.get(key);
  if (found) return found;
  const options = { keepAlive: true, maxSockets };
  const agent = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
  const held: HeldAgent = {
    agent,
    inFlight: 0,
    timer: setTimeout(function expire() {
      // A send still running keeps its agent (its socket would be cut); look again later.
      if (held.inFlight > 0) {
        held.timer = setTimeout(expire, AGENT_IDLE_MS);
        held.timer.unref?.();
        return;
      }
      agents.delete(key);
      agent.destroy();
    }, AGENT_IDLE_MS),
  };
  held.timer.unref?.();
  agents.set(key, held);
  return held;
}

/**
 * POSTs to the URL, connecting to `pinned` (the address the SSRF guard checked) whatever the name
 * resolves to now: the connection's lookup answers with it. TLS still verifies the certificate for
 * the URL's name (SNI and the Host header come from the URL). Redirects are answers, never followed
 * (a 3xx to an internal address would be the guard's way round). The whole exchange has `timeoutMs`;
 * the body is read up to a small cap, then the connection is dropped. Connections are kept alive
 * and reused by later sends to the same URL origin and pinned address (`maxSockets` at most at once).
 */
export function postPinned(
  url: URL,
  pinned: ResolvedAddress,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  opts: { ca?: string | undefined; maxSockets?: number } = {},
): Promise<PostResult> {
  const lookup: LookupFunction = (_host, options, callback) => {
    if (options.all) (callback as (e: null, a: ResolvedAddress[]) => void)(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
  const client = url.protocol === 'https:' ? https : http;
  const held = heldAgent(url, pinned, opts.maxSockets ?? 5, opts.ca);
  held.inFlight++;
  held.timer.refresh();
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: PostResult) => {
      if (settled) return;
      settled = true;
      held.inFlight--;
      held.timer.refresh();
      clearTimeout(timer);
      resolve(r);
    };
    const req = client.request(
      url,
      {
        method: 'POST',
        lookup,
        agent: held.agent,
        ...(opts.ca ? { ca: opts.ca } : {}),
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        // Read to the end (up to the cap), so that the connection goes back to the agent for reuse.
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > BODY_CAP) res.destroy();
        });
        const finish = () => {
          if (status >= 200 && status < 300) done({ status });
          else if (status >= 300 && status < 400)
            done({
              status,
              error: `redirect to ${res.headers.location ?? '(none)'} not followed`,
              errorType: String(status),
            });
          else done({ status, error: `answered ${status}`, errorType: String(status) });
        };
        res.on('end', finish);
        res.on('close', finish);
        res.on('error', finish);
      },
    );
    const timer = setTimeout(() => {
      done({ error: `no answer within ${timeoutMs} ms`, errorType: 'timeout' });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) =>
      done({ error: err.message.slice(0, 200), errorType: (err as NodeJS.ErrnoException).code ?? err.name }),
    );
    req.end(body);
  });
}
