import { isIP } from "node:net";

// The visitor's IP for Meta (decisions 17): the socket address by default; behind N trusted proxies, the N-th
// address from the right of X-Forwarded-For. The left-most entries are client-supplied and never trusted blindly.

export function clientIp(
  socketAddress: string | null,
  forwardedFor: string | string[] | null,
  trustedHops: number,
): string | null {
  let candidate = socketAddress;
  if (trustedHops > 0 && forwardedFor) {
    const list = (
      Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor
    )
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    if (list.length >= trustedHops) candidate = list[list.length - trustedHops];
  }
  return publicIp(candidate);
}

/** The address, normalised, when it is an IP address that identifies someone to Meta; else null. */
export function publicIp(raw: string | null | undefined): string | null {
  const ip = normalizeIp(raw ?? null);
  return ip && isPublicIp(ip) ? ip : null;
}

function normalizeIp(raw: string | null): string | null {
  if (!raw) return null;
  let ip = raw.trim();
  if (ip.startsWith("[") && ip.includes("]")) ip = ip.slice(1, ip.indexOf("]"));
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip)) ip = ip.slice(7);
  return isIP(ip) ? ip.toLowerCase() : null;
}

/** Private, loopback and link-local addresses identify nobody to Meta: a sign of a proxy not configured. */
export function isPublicIp(ip: string): boolean {
  if (isIP(ip) === 4) {
    // The first two octets, read in place (no array per address: mapping reads one per order).
    const first = ip.indexOf(".");
    const a = Number(ip.slice(0, first));
    const b = Number(ip.slice(first + 1, ip.indexOf(".", first + 1)));
    return !(
      a === 10 ||
      a === 127 ||
      a === 0 ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127) ||
      a >= 224
    );
  }
  return !(ip === "::1" || ip === "::" || /^(fc|fd|fe8|fe9|fea|feb)/.test(ip));
}
