/**
 * Who a request or socket comes from. Behind a reverse proxy every connection comes from
 * the proxy, so limits keyed on the peer would throttle all clients as one; TRUST_PROXY
 * names the proxies whose `X-Forwarded-For` is believed. HTTP (fastify's `trustProxy`) and
 * sockets use the same trust function and the same walk, so a client has one address
 * everywhere, and a client that is not behind a trusted proxy cannot choose its own.
 */
import { createHash } from 'node:crypto';
import { BlockList, isIP, isIPv4 } from 'node:net';
import type { TrustProxy } from '../config.ts';

/** proxy-addr's trust function: is the address at `hop` (0 = the peer) a proxy we believe? */
export type TrustFn = (address: string, hop: number) => boolean;

const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** The trust function of a TRUST_PROXY setting; false when no proxy is trusted. */
export function trustFunction(trust: TrustProxy): TrustFn | false {
  if (trust.kind === 'off') return false;
  if (trust.kind === 'hops') {
    const { hops } = trust;
    return (_address, hop) => hop < hops;
  }
  const list = new BlockList();
  for (const range of trust.ranges.flatMap((r) => NAMED_RANGES[r] ?? [r])) {
    const [address = '', prefix] = range.split('/');
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address) => {
    const family = isIP(address);
    // BlockList matches IPv4-mapped IPv6 peers (::ffff:a.b.c.d) against IPv4 ranges itself
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
}

/**
 * The client's address, as proxy-addr (and so fastify's `req.ip`) computes it: start at the
 * peer and step left through `X-Forwarded-For` while the current hop is trusted.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trust: TrustFn | false): string {
  const first = peer ?? '';
  if (!trust || forwardedFor === undefined) return first;
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  const chain = [first, ...header.split(',').map((a) => a.trim()).filter(Boolean).reverse()];
  let i = 0;
  while (i < chain.length - 1 && trust(chain[i]!, i)) i++;
  return chain[i]!;
}

/**
 * The key per-address limits count under: IPv4 (also when written IPv4-mapped) as is, IPv6
 * by its /64, since one subscriber usually holds a whole /64 and could otherwise take a new
 * address per request. Anything else (a misconfigured hop count lets a client name any
 * string) is cut short so it cannot grow the limiters' memory.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address)) return address;
  const plain = address.split('%')[0]!; // zone index (fe80::1%eth0)
  if (isIP(plain) === 6) return `${expandIPv6(plain).slice(0, 4).join(':')}::/64`;
  return address.slice(0, 64);
}

/**
 * A stand-in for an anonymous viewer in storage, where views are deduplicated per viewer:
 * derived from the address key, so the raw address is not stored. Never a user id (those
 * are 13-character TSIDs).
 */
export function anonymousViewerKey(addressKeyValue: string): string {
  return `anon:${createHash('sha256').update(addressKeyValue).digest('base64url').slice(0, 16)}`;
}

/** The eight hextets of an IPv6 address (already known to be valid), lower-case, unpadded. */
function expandIPv6(address: string): string[] {
  let text = address.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((h) => parseInt(h, 16).toString(16));
}
