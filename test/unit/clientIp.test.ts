import { describe, expect, it } from "vitest";
import { clientIp, isPublicIp } from "../../app/core/intake/clientIp";
import { clientKey, RecentKeys } from "../../app/http/rateLimit";

describe("clientIp (decisions 17)", () => {
  it("uses the socket address by default, ignoring X-Forwarded-For", () => {
    expect(clientIp("203.0.113.9", "198.51.100.1", 0)).toBe("203.0.113.9");
  });

  it("takes the N-th address from the right behind N trusted proxies, never the spoofable left-most", () => {
    const xff = "1.2.3.4, 198.51.100.7, 203.0.113.50";
    expect(clientIp("10.0.0.2", xff, 1)).toBe("203.0.113.50");
    expect(clientIp("10.0.0.2", xff, 2)).toBe("198.51.100.7");
    expect(clientIp("10.0.0.2", ["1.2.3.4", "203.0.113.50"], 1)).toBe(
      "203.0.113.50",
    );
  });

  it("falls back to the socket when the header has fewer hops than trusted", () => {
    expect(clientIp("203.0.113.9", "198.51.100.1", 3)).toBe("203.0.113.9");
  });

  it("keeps IPv6, unwraps IPv4-mapped addresses, drops private and loopback ones", () => {
    expect(clientIp("2001:DB8::1", null, 0)).toBe("2001:db8::1");
    expect(clientIp("::ffff:203.0.113.9", null, 0)).toBe("203.0.113.9");
    for (const ip of [
      "127.0.0.1",
      "10.1.2.3",
      "192.168.0.4",
      "172.20.0.1",
      "::1",
      "fd00::1",
      "169.254.1.1",
      "not-an-ip",
    ]) {
      expect(clientIp(ip, null, 0), ip).toBeNull();
    }
    expect(isPublicIp("172.32.0.1")).toBe(true);
  });
});

describe("clientKey", () => {
  it("keys an IPv6 client by its /64 however the address is written, and an IPv4 client by its address", () => {
    const net = "2001:db8:7:1::/64";
    for (const ip of [
      "2001:db8:7:1::1",
      "2001:0db8:0007:0001:abcd:ef01:2345:6789",
      "2001:db8:7:1:0:0:0:ff",
      "2001:db8:7:1::",
    ]) {
      expect(clientKey(ip), ip).toBe(net);
    }
    expect(clientKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientKey("2001:db8:7:2::1")).not.toBe(net);
    expect(clientKey("203.0.113.9")).toBe("203.0.113.9");
  });
});

describe("RecentKeys", () => {
  it("forgets the least recently used key first, so a key in use survives a run of new ones", () => {
    const keys = new RecentKeys(3);
    keys.add("shopper");
    keys.add("a");
    keys.add("b");
    expect(keys.has("shopper")).toBe(true);
    keys.add("c");
    keys.add("d");
    expect(["shopper", "a", "b", "c", "d"].filter((k) => keys.has(k))).toEqual([
      "shopper",
      "c",
      "d",
    ]);
  });
});
