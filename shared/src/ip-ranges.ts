/**
 * Which IP addresses count as public: the one rule the desktop's sandbox proxy (what a command
 * may connect to) and the relay's OAuth metadata fetcher (what a client id may make the relay
 * request) both enforce. Pure logic, so both ends share it.
 */

/** IPv4 ranges that are not the public internet: this host, private, CGNAT, link-local (cloud metadata), documentation, benchmarking, multicast, reserved. */
export const NON_PUBLIC_IPV4_RANGES: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 3],
];

/**
 * IPv6 ranges that are not the public internet: unspecified, loopback, unique-local, link-local,
 * site-local, multicast, documentation, discard, and 6to4 (which carries any IPv4, private ones
 * too). IPv4-mapped, -compatible and NAT64 forms are judged by the IPv4 address inside.
 */
export const NON_PUBLIC_IPV6_RANGES: ReadonlyArray<readonly [string, number]> = [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
  ['100::', 64],
  ['2002::', 16],
];

/** The 32-bit value of a dotted IPv4 address, or null when it is not one. */
function ipv4Value(address: string): number | null {
  const parts = address.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || (part.length > 1 && part.startsWith('0'))) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = value * 256 + n;
  }
  return value;
}

/** The eight 16-bit groups of an IPv6 address (an embedded dotted IPv4 tail allowed), or null. */
function ipv6Groups(address: string): number[] | null {
  let text = address.toLowerCase();
  if (!text.includes(':')) return null;
  if (text.includes('%')) return null; // zone ids name an interface of this host
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    // A dotted IPv4 tail (::ffff:1.2.3.4) is the last two groups written another way.
    const v4 = ipv4Value(text.slice(lastColon + 1));
    if (v4 === null) return null;
    text = `${text.slice(0, lastColon + 1)}${Math.floor(v4 / 65536).toString(16)}:${(v4 % 65536).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string): number[] | null => {
    if (s === '') return [];
    const groups = s.split(':');
    if (groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null;
    return groups.map((g) => Number.parseInt(g, 16));
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === null || rest === null) return null;
  const known = head.length + rest.length;
  if (halves.length === 1) return known === 8 ? head : null;
  if (known > 7) return null;
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest];
}

function inIpv4Range(value: number, [base, bits]: readonly [string, number]): boolean {
  const size = 2 ** (32 - bits);
  return Math.floor(value / size) === Math.floor((ipv4Value(base) as number) / size);
}

function inIpv6Range(groups: number[], [base, bits]: readonly [string, number]): boolean {
  const b = ipv6Groups(base) as number[];
  for (let i = 0, left = bits; left > 0; i++, left -= 16) {
    const shift = Math.max(0, 16 - left);
    if (groups[i]! >> shift !== b[i]! >> shift) return false;
  }
  return true;
}

/** The IPv4 address inside an IPv4-mapped, -compatible or NAT64 (64:ff9b::/96) IPv6 address, if any. */
function embeddedIpv4(groups: number[]): number | null {
  const zeros = (n: number) => groups.slice(0, n).every((g) => g === 0);
  const mapped = zeros(5) && groups[5] === 0xffff;
  const compatible = zeros(6) && (groups[6]! !== 0 || groups[7]! > 1);
  const nat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  return mapped || compatible || nat64 ? groups[6]! * 65536 + groups[7]! : null;
}

/** True when `address` (an IP literal) is on the public internet; false for anything else, and for text that is not an address. */
export function isPublicIpAddress(address: string): boolean {
  const v4 = ipv4Value(address);
  if (v4 !== null) return !NON_PUBLIC_IPV4_RANGES.some((r) => inIpv4Range(v4, r));
  const groups = ipv6Groups(address);
  if (groups === null) return false;
  const inner = embeddedIpv4(groups);
  if (inner !== null) return !NON_PUBLIC_IPV4_RANGES.some((r) => inIpv4Range(inner, r));
  return !NON_PUBLIC_IPV6_RANGES.some((r) => inIpv6Range(groups, r));
}
