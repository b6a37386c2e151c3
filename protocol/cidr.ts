/**
 * CIDR networks for the `trustedNetworks` policy field: parsed strictly (the admin gets a clear
 * reason for a bad one) and matched against PAM_RHOST. No I/O, no name lookups: only a literal
 * IPv4 or IPv6 address can be inside a network; a host name (sshd with `UseDNS yes`, sudo's own
 * host name) never is.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  /** 4 bytes (IPv4) or 16 (IPv6). */
  bytes: Uint8Array;
  prefix: number;
}

/** The bytes of a literal address, IPv4-mapped IPv6 (`::ffff:10.0.0.1`) read as IPv4. */
export function addressBytes(text: string): Uint8Array | null {
  // A zone (`fe80::1%eth0`) names an interface, not a different address.
  const addr = text.replace(/%[A-Za-z0-9_.-]{1,32}$/, '');
  if (isIPv4(addr)) return Uint8Array.from(addr.split('.').map(Number));
  if (!isIPv6(addr)) return null;
  const v6 = ipv6Bytes(addr);
  if (v6 === null) return null;
  const mapped = v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? v6.slice(12) : v6;
}

function ipv6Bytes(addr: string): Uint8Array | null {
  let text = addr.toLowerCase();
  // A trailing dotted quad (`::ffff:1.2.3.4`) is two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const b = quad[1]!.split('.').map(Number);
    text = `${text.slice(0, quad.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const all = [...head, ...Array<string>(fill).fill('0'), ...tail];
  if (all.length !== 8) return null;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

/** A network as `address/prefix`, or the reason it is not one (said to the admin as is). */
export function parseCidr(text: string): Cidr | string {
  const example = 'address/prefix, e.g. 10.0.0.0/8 or 2001:db8::/32';
  const m = /^([^/\s]+)\/([0-9]{1,3})$/.exec(text);
  if (!m) return `"${text.slice(0, 60)}" is not a network (${example})`;
  const addr = m[1]!;
  const prefix = Number(m[2]);
  const v4 = isIPv4(addr);
  if (!v4 && !isIPv6(addr)) return `"${text.slice(0, 60)}": ${addr} is not an IP address`;
  const bytes = v4 ? Uint8Array.from(addr.split('.').map(Number)) : ipv6Bytes(addr);
  if (bytes === null) return `"${text.slice(0, 60)}": ${addr} is not an IP address`;
  const max = bytes.length * 8;
  if (prefix > max)
    return `"${text}": the prefix /${prefix} is longer than an IPv${v4 ? 4 : 6} address (/${max})`;
  for (let bit = prefix; bit < max; bit++) {
    if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) {
      return `"${text}": the address has bits set past /${prefix} (did you mean ${networkText(bytes, prefix, v4)}?)`;
    }
  }
  return { bytes, prefix };
}

function networkText(bytes: Uint8Array, prefix: number, v4: boolean): string {
  const masked = bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    return keep === 0 ? 0 : b & (0xff << (8 - keep));
  });
  if (v4) return `${[...masked].join('.')}/${prefix}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((masked[i]! << 8) | masked[i + 1]!).toString(16));
  return `${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}/${prefix}`;
}

/** True when `address` is a literal IP address inside one of `networks` (valid CIDR texts). */
export function insideAny(address: string, networks: readonly string[]): boolean {
  const a = addressBytes(address);
  if (a === null) return false;
  for (const text of networks) {
    const n = parseCidr(text);
    if (typeof n === 'string' || n.bytes.length !== a.length) continue;
    let inside = true;
    for (let bit = 0; bit < n.prefix && inside; bit++) {
      const mask = 1 << (7 - (bit & 7));
      inside = (a[bit >> 3]! & mask) === (n.bytes[bit >> 3]! & mask);
    }
    if (inside) return true;
  }
  return false;
}
