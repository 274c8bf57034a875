import { createRequire } from "node:module";

// The country of an IP address, offline: MaxMind's GeoLite2 Country data as the npm package geoip-country ships it
// (CC BY-SA 4.0 with attribution, README; refreshed by `npm update geoip-country`, decisions 66). The package reads
// its ~8 MB of data into memory when it is first required, so it is required on the first lookup: a process that
// never meets an order without an address never loads it. It does no network I/O (its updater is a script that
// nothing here runs).

interface GeoIpCountry {
  lookup(ip: string): { country?: string } | null;
}

let geoip: GeoIpCountry | null = null;

/** ISO alpha-2 country of a public IPv4 or IPv6 address; null when unknown (private ranges, bad input). */
export function ipCountry(ip: string | null | undefined): string | null {
  if (!ip) return null;
  geoip ??= createRequire(import.meta.url)("geoip-country") as GeoIpCountry;
  try {
    const country = geoip.lookup(ip)?.country;
    return country && /^[A-Z]{2}$/.test(country) ? country : null;
  } catch {
    return null;
  }
}
