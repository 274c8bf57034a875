import { describe, expect, it } from "vitest";
import { clientIp, isPublicIp } from "../../app/capi/clientIp";
import { RateLimiter } from "../../app/capi/rateLimit";

describe("clientIp (decisions 17)", () => {
  it("uses the socket address by default, ignoring X-Forwarded-For", () => {
    expect(clientIp("203.0.113.9", "198.51.100.1", 0)).toBe("203.0.113.9");
  });

  it("takes the N-th address from the right behind N trusted proxies, never the spoofable left-most", () => {
    const xff = "1.2.3.4, 198.51.100.7, 203.0.113.50";
    expect(clientIp("10.0.0.2", xff, 1)).toBe("203.0.113.50");
    expect(clientIp("10.0.0.2", xff, 2)).toBe("198.51.100.7");
    expect(clientIp("10.0.0.2", ["1.2.3.4", "203.0.113.50"], 1)).toBe("203.0.113.50");
  });

  it("falls back to the socket when the header has fewer hops than trusted", () => {
    expect(clientIp("203.0.113.9", "198.51.100.1", 3)).toBe("203.0.113.9");
  });

  it("keeps IPv6, unwraps IPv4-mapped addresses, drops private and loopback ones", () => {
    expect(clientIp("2001:DB8::1", null, 0)).toBe("2001:db8::1");
    expect(clientIp("::ffff:203.0.113.9", null, 0)).toBe("203.0.113.9");
    for (const ip of ["127.0.0.1", "10.1.2.3", "192.168.0.4", "172.20.0.1", "::1", "fd00::1", "169.254.1.1", "not-an-ip"]) {
      expect(clientIp(ip, null, 0), ip).toBeNull();
    }
    expect(isPublicIp("172.32.0.1")).toBe(true);
  });
});

describe("RateLimiter", () => {
  it("allows the burst, then the rate, per key", () => {
    const limiter = new RateLimiter(2, 3);
    const t = 1_000_000;
    expect([1, 2, 3, 4].map(() => limiter.take("a", t))).toEqual([true, true, true, false]);
    expect(limiter.take("b", t)).toBe(true);
    expect(limiter.take("a", t + 499)).toBe(false);
    expect(limiter.take("a", t + 500)).toBe(true);
    expect(limiter.take("a", t + 10_000)).toBe(true);
  });
});
