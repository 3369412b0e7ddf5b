import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/**
 * The SSRF guard's address rules. A webhook URL is chosen by whoever manages endpoints, and the
 * worker that sends to it sits inside the network: without a guard, an endpoint at 127.0.0.1, 10.x
 * or 169.254.169.254 (a cloud's metadata service) would make Orderflow call its own neighbours.
 * Only public unicast addresses are allowed; everything below is refused, by class.
 */
const v4Ranges: [string, number, string][] = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (cloud metadata)'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

const v4 = (ip: string): number => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
const v4Parsed = v4Ranges.map(([base, bits, why]) => ({ base: v4(base), size: 2 ** (32 - bits), why }));

function refusedV4(ip: string): string | undefined {
  const n = v4(ip);
  return v4Parsed.find((r) => n >= r.base && n < r.base + r.size)?.why;
}

/** The eight 16-bit groups of an IPv6 address (with an embedded dotted IPv4 tail handled). */
function groupsOf(ip: string): number[] {
  let text = ip.toLowerCase().split('%')[0] ?? '';
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const n = v4(dotted[1]);
    text = `${text.slice(0, -dotted[1].length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const part = (s: string) => (s ? s.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const h = part(head);
  const t = tail === undefined ? [] : part(tail);
  return [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
}

function refusedV6(ip: string): string | undefined {
  const g = groupsOf(ip);
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, hi = 0, lo = 0] = g;
  const embedded = `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (g.every((x) => x === 0)) return 'unspecified';
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 0 && hi === 0 && lo === 1)
    return 'loopback';
  // ::ffff:a.b.c.d (IPv4-mapped), ::a.b.c.d (IPv4-compatible) and 64:ff9b::a.b.c.d (NAT64) reach
  // the IPv4 address inside: it is judged as that address.
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && (f === 0xffff || f === 0)) {
    const inner = refusedV4(embedded);
    return inner ? `${inner} (IPv4 inside IPv6)` : undefined;
  }
  if (a === 0x64 && b === 0xff9b && c === 0 && d === 0 && e === 0 && f === 0) {
    const inner = refusedV4(embedded);
    return inner ? `${inner} (NAT64)` : undefined;
  }
  if ((a & 0xfe00) === 0xfc00) return 'unique-local (private)';
  if ((a & 0xffc0) === 0xfe80) return 'link-local';
  if ((a & 0xff00) === 0xff00) return 'multicast';
  if (a === 0x2001 && b === 0x0db8) return 'documentation';
  return undefined;
}

/** Why an address may not be called (its class), or undefined for a public address. */
export function refusedAddress(ip: string): string | undefined {
  const family = isIP(ip);
  if (family === 4) return refusedV4(ip);
  if (family === 6) return refusedV6(ip);
  return 'not an IP address';
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Name resolution, a port so tests can point a name anywhere (no external DNS exists there). */
export type Resolve = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolve: Resolve = (host) => lookup(host, { all: true, verbatim: true });

/** A URL, a name or an address the guard refuses: the reason says which and why. */
export class TargetRefused extends Error {
  override name = 'TargetRefused';
}

export interface Guard {
  /** WEBHOOK_ALLOW_PRIVATE: any address, and plain http (tests, a local receiver). */
  allowPrivate: boolean;
  resolve: Resolve;
}

/** The host as an address or a name (`[::1]` → `::1`). */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/** The URL's syntax rules: http(s) only, https unless private targets are allowed, no credentials. */
export function checkUrlShape(raw: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefused('not a URL');
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:'))
    throw new TargetRefused('must be an https:// URL');
  if (url.username || url.password) throw new TargetRefused('must not carry a user name or password');
  if (!url.hostname) throw new TargetRefused('has no host');
  return url;
}

/**
 * Resolves the URL's host and checks every address it resolves to; returns the one to connect to.
 * The caller connects to exactly that address (never resolving again), so a name that answers a
 * public address to the check and a private one to the connection (DNS rebinding) gains nothing.
 */
export async function checkedTarget(url: URL, guard: Guard): Promise<ResolvedAddress> {
  const host = hostOf(url);
  const literal = isIP(host);
  const addresses = literal
    ? [{ address: host, family: literal }]
    : await guard.resolve(host).catch((err: Error) => {
        throw new TargetRefused(`${host} does not resolve (${err.message})`);
      });
  if (addresses.length === 0) throw new TargetRefused(`${host} does not resolve`);
  if (!guard.allowPrivate) {
    for (const a of addresses) {
      const why = refusedAddress(a.address);
      if (why)
        throw new TargetRefused(literal ? `${host} is ${why}` : `${host} resolves to ${a.address} (${why})`);
    }
  }
  return addresses[0] as ResolvedAddress;
}
