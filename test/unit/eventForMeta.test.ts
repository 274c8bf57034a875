import { describe, expect, it } from "vitest";
import { eventForMeta } from "../../app/capi/outbox";

// The dispatcher sends each stored payload as text with the raw IP and user agent spliced into its user_data
// (outbox.ts eventForMeta). Whatever the text, the result must be the JSON of the merged objects.

const IP = "203.0.113.7";
const UA = 'Mozilla/5.0 (Québec; "quoted" \\ back\\slash)';

function expected(payload: Record<string, unknown>, ip: string | null, ua: string | null) {
  const userData = (payload.user_data ?? {}) as Record<string, unknown>;
  return {
    ...payload,
    user_data: { ...userData, ...(ip ? { client_ip_address: ip } : {}), ...(ua ? { client_user_agent: ua } : {}) },
  };
}

const cases: [string, string][] = [
  ["a stored order payload", JSON.stringify({ event_name: "Purchase", event_id: "purchase_1", user_data: { em: ["a".repeat(64)], fbp: "fb.1.2.3" }, custom_data: { value: 1.5 } })],
  ["an empty user_data", JSON.stringify({ event_name: "PageView", user_data: {}, custom_data: {} })],
  ["user_data after a nested object that has one of its own", JSON.stringify({ custom_data: { user_data: { x: 1 }, list: [{ user_data: {} }] }, user_data: { em: ["b"] } })],
  ["the key's text inside a string value", JSON.stringify({ event_source_url: 'https://s/?q="user_data":{', note: "user_data", user_data: { ph: ["c"] } })],
  ["PostgreSQL's jsonb text, with spaces", '{"event_id": "e1", "user_data": {"em": ["d"]}, "custom_data": {"value": 2}}'],
  ["no user_data at all", JSON.stringify({ event_name: "Lead", custom_data: {} })],
  ["a payload that already names the IP", JSON.stringify({ user_data: { client_ip_address: "198.51.100.1", em: ["e"] } })],
];

describe("eventForMeta", () => {
  for (const [name, json] of cases) {
    it(`adds the IP and user agent to ${name}`, () => {
      const payload = JSON.parse(json) as Record<string, unknown>;
      for (const [ip, ua] of [[IP, UA], [IP, null], [null, UA]] as const) {
        expect(JSON.parse(eventForMeta({ payloadJson: json, clientIp: ip, clientUserAgent: ua }))).toEqual(expected(payload, ip, ua));
      }
    });
  }

  it("sends a payload without IP or user agent as it is stored", () => {
    const [, json] = cases[0];
    expect(eventForMeta({ payloadJson: json, clientIp: null, clientUserAgent: null })).toBe(json);
  });

  it("splices without re-serialising the rest of the text", () => {
    const json = '{"event_id":"e","user_data":{"em":["f"]},"custom_data":{"value":1.10}}';
    expect(eventForMeta({ payloadJson: json, clientIp: IP, clientUserAgent: null })).toBe(
      '{"event_id":"e","user_data":{"client_ip_address":"203.0.113.7","em":["f"]},"custom_data":{"value":1.10}}',
    );
  });
});
