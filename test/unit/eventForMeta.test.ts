import { describe, expect, it } from "vitest";
import { eventsForMeta } from "../../app/core/fast";

// The dispatcher sends each stored payload as text with the raw IP and user agent spliced into its user_data
// (app/core/fast, decisions 51). Whatever the text, the result must be the JSON of the merged objects, and the size
// given with it must not be less than its size in bytes (requests are cut by it).

type Row = Parameters<typeof eventsForMeta>[0][number];
const eventForMeta = (row: Row) => eventsForMeta([row]).events[0];

const IP = "203.0.113.7";
const UA = 'Mozilla/5.0 (Québec; "quoted" \\ back\\slash)';

function expected(
  payload: Record<string, unknown>,
  ip: string | null,
  ua: string | null,
) {
  const userData = (payload.user_data ?? {}) as Record<string, unknown>;
  return {
    ...payload,
    user_data: {
      ...userData,
      ...(ip ? { client_ip_address: ip } : {}),
      ...(ua ? { client_user_agent: ua } : {}),
    },
  };
}

const cases: [string, string][] = [
  [
    "a stored order payload",
    JSON.stringify({
      event_name: "Purchase",
      event_id: "purchase_1",
      user_data: { em: ["a".repeat(64)], fbp: "fb.1.2.3" },
      custom_data: { value: 1.5 },
    }),
  ],
  [
    "an empty user_data",
    JSON.stringify({ event_name: "PageView", user_data: {}, custom_data: {} }),
  ],
  [
    "user_data after a nested object that has one of its own",
    JSON.stringify({
      custom_data: { user_data: { x: 1 }, list: [{ user_data: {} }] },
      user_data: { em: ["b"] },
    }),
  ],
  [
    "the key's text inside a string value",
    JSON.stringify({
      event_source_url: 'https://s/?q="user_data":{',
      note: "user_data",
      user_data: { ph: ["c"] },
    }),
  ],
  [
    "a payload with non-ASCII text",
    JSON.stringify({
      event_name: "Purchase",
      custom_data: { content_name: "Tasse érable ✓" },
      user_data: { em: ["g"] },
    }),
  ],
  [
    "PostgreSQL's jsonb text, with spaces",
    '{"event_id": "e1", "user_data": {"em": ["d"]}, "custom_data": {"value": 2}}',
  ],
  [
    "no user_data at all",
    JSON.stringify({ event_name: "Lead", custom_data: {} }),
  ],
  [
    "a payload that already names the IP",
    JSON.stringify({
      user_data: { client_ip_address: "198.51.100.1", em: ["e"] },
    }),
  ],
];

describe("eventsForMeta", () => {
  for (const [name, json] of cases) {
    it(`adds the IP and user agent to ${name}`, () => {
      const payload = JSON.parse(json) as Record<string, unknown>;
      for (const [ip, ua] of [
        [IP, UA],
        [IP, null],
        [null, UA],
      ] as const) {
        expect(
          JSON.parse(
            eventForMeta({
              payloadJson: json,
              clientIp: ip,
              clientUserAgent: ua,
            }),
          ),
        ).toEqual(expected(payload, ip, ua));
      }
    });
  }

  it("gives each event a size no smaller than its bytes, and a tight one when spliced", () => {
    const pairs = [
      [IP, UA],
      [IP, null],
      [null, UA],
      [null, null],
      ["2001:db8::1", "Zürich \u0001 ✓"],
    ] as const;
    for (const [name, json] of cases) {
      const { events, bytes } = eventsForMeta(
        pairs.map(([ip, ua]) => ({
          payloadJson: json,
          clientIp: ip,
          clientUserAgent: ua,
        })),
      );
      events.forEach((event, i) =>
        expect(bytes[i], name).toBeGreaterThanOrEqual(Buffer.byteLength(event)),
      );
      // A stored order payload (the usual case): at most the 15 bytes the bound adds for a merge.
      if (json === cases[0][1])
        events.forEach((event, i) =>
          expect(bytes[i] - Buffer.byteLength(event)).toBeLessThanOrEqual(15),
        );
    }
  });

  it("sends a payload without IP or user agent as it is stored", () => {
    const [, json] = cases[0];
    expect(
      eventForMeta({
        payloadJson: json,
        clientIp: null,
        clientUserAgent: null,
      }),
    ).toBe(json);
  });

  it("splices without re-serialising the rest of the text", () => {
    const json =
      '{"event_id":"e","user_data":{"em":["f"]},"custom_data":{"value":1.10}}';
    expect(
      eventForMeta({ payloadJson: json, clientIp: IP, clientUserAgent: null }),
    ).toBe(
      '{"event_id":"e","user_data":{"client_ip_address":"203.0.113.7","em":["f"]},"custom_data":{"value":1.10}}',
    );
  });
});
