import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isIP } from "node:net";
import { makeOrder } from "../fixtures/order";
import { API_SECRET, databaseKinds, eventually } from "../support/app";
import { sendWebhook } from "../support/shopifyWebhook";
import { connectedShop, type Scenario } from "../support/scenario";

// Shopper-controlled text is stored and sent as it comes (decisions 30): every text field of an order the app reads,
// crossed with the strings PostgreSQL refuses or Meta has no use for. Each authentic webhook must be answered 200
// and recorded (receipt and outbox row) on both databases, and nothing stored or sent may hold NUL or a lone
// surrogate, nor a click id, IP or user agent of the wrong format.

/** Paths of the order's text fields that the app reads (the base fixture has each, or gets one). */
const FIELDS: string[][] = [
  ["name"],
  ["email"],
  ["contact_email"],
  ["phone"],
  ["browser_ip"],
  ["checkout_token"],
  ["landing_site"],
  ["order_status_url"],
  ["client_details", "browser_ip"],
  ["client_details", "user_agent"],
  // A gift message's name, the theme's _fbp, and a cart _fbc (added by the case: it outranks the landing page's fbclid).
  ["note_attributes", "0", "name"],
  ["note_attributes", "1", "value"],
  ["note_attributes", "2", "value"],
  ["customer", "email"],
  ["customer", "phone"],
  ["customer", "first_name"],
  ["customer", "last_name"],
  ...["default_address", "billing_address", "shipping_address"].flatMap((a) =>
    [
      "first_name",
      "last_name",
      "city",
      "province_code",
      "zip",
      "country",
      "country_code",
      "phone",
    ].map((f) => (a === "default_address" ? ["customer", a, f] : [a, f])),
  ),
  ["line_items", "0", "sku"],
  ["line_items", "1", "sku"],
];

/** Inserted in the middle of each field; "invalid UTF-8" is a marker replaced by raw bytes in the signed body. */
const HOSTILE: Record<string, string> = {
  NUL: "\u0000",
  "lone high surrogate": "\ud800",
  "lone low surrogate": "\udfff",
  "control characters": "\u0001\u0008\u001b\u007f",
  "invalid UTF-8": "~~BYTES~~",
};
const INVALID_UTF8 = Buffer.from([
  0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xc0, 0xaf,
]);

interface Case {
  label: string;
  id: number;
  body: string | Buffer;
}

let seq = 0;
function order(id: number) {
  const now = new Date().toISOString();
  return makeOrder({
    id,
    admin_graphql_api_id: `gid://shopify/Order/${id}`,
    created_at: now,
    processed_at: now,
    checkout_token: `ck${id}`,
  }) as Record<string, unknown>;
}

function withValue(
  o: Record<string, unknown>,
  path: string[],
  insert: (value: string) => string,
) {
  if (path.join(".") === "note_attributes.2.value")
    (o.note_attributes as unknown[]).push({
      name: "_fbc",
      value: "fb.1.1762800000000.IwAR_cart-click",
    });
  let at = o as Record<string, unknown>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
  const key = path.at(-1)!;
  at[key] = insert(String(at[key] ?? "x"));
}

function cases(base: number): Case[] {
  const out: Case[] = [];
  const add = (
    label: string,
    edit: (o: Record<string, unknown>) => void,
    bytes = false,
  ) => {
    const id = base + ++seq;
    const o = order(id);
    edit(o);
    const text = JSON.stringify(o);
    const body = bytes
      ? Buffer.concat(
          text
            .split(HOSTILE["invalid UTF-8"])
            .flatMap((part, i) =>
              i ? [INVALID_UTF8, Buffer.from(part)] : [Buffer.from(part)],
            ),
        )
      : text;
    out.push({ label, id, body });
  };
  for (const path of FIELDS) {
    for (const [name, hostile] of Object.entries(HOSTILE)) {
      // Three quarters in: inside the click id of an _fbc, the last part of an IP.
      const at = (v: string) => Math.floor((v.length * 3) / 4);
      add(
        `${path.join(".")} with ${name}`,
        (o) =>
          withValue(
            o,
            path,
            (v) => v.slice(0, at(v)) + hostile + v.slice(at(v)),
          ),
        name === "invalid UTF-8",
      );
    }
  }
  // The click id as a landing page carries it, percent-encoded: NUL, and the UTF-8 bytes of a lone surrogate.
  for (const fbclid of ["%00", "IwAR%00x", "%ED%A0%80", "IwAR%01%7F"])
    add(
      `landing_site fbclid=${fbclid}`,
      (o) => (o.landing_site = `/products/merino-tee?fbclid=${fbclid}`),
    );
  return out;
}

/** Every string inside a value (keys included), for the checks below. */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value && typeof value === "object" && !(value instanceof Date)) {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      strings(v, out);
    }
  }
  return out;
}

const LONE_SURROGATE =
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const unstorable = (s: string) =>
  s.includes("\u0000") || LONE_SURROGATE.test(s);
const CONTROL = /[\u0000-\u001f\u007f]/;

describe.each(databaseKinds())(
  "shopper-controlled order text on %s",
  (kind) => {
    let s: Scenario;
    let all: Case[];
    const answers = new Map<
      number,
      { status: number; body: Record<string, unknown> }
    >();

    beforeAll(async () => {
      s = await connectedShop(kind);
      const shop = await s.app.db.shop.findUniqueOrThrow({
        where: { domain: s.shop },
      });
      // Every case is sent (no consent decision in the way), with SKUs as content ids so line items' text reaches Meta.
      await s.app.db.shop.update({
        where: { id: shop.id },
        data: {
          settings: {
            ...(shop.settings as object),
            consentPolicy: "always",
            contentIdFormat: "sku",
          },
        },
      });
      all = cases(6_300_000_000_000 + (Date.now() % 1_000_000) * 1000);
      for (let i = 0; i < all.length; i += 8) {
        await Promise.all(
          all.slice(i, i + 8).map(async (c) => {
            const res = await sendWebhook(s.app.url, {
              topic: "orders/paid",
              shop: s.shop,
              body: c.body,
              secret: API_SECRET,
              webhookId: `wh-text-${c.id}`,
            });
            answers.set(c.id, { status: res.status, body: await res.json() });
          }),
        );
      }
    }, 240_000);
    afterAll(async () => {
      await s?.close();
    });

    it("covers every text field with every hostile string", () => {
      expect(all.length).toBe(FIELDS.length * Object.keys(HOSTILE).length + 4);
    });

    it("answers every authentic webhook 200 and records its receipt and outbox row", async () => {
      const failed = all.filter(
        (c) =>
          answers.get(c.id)?.status !== 200 ||
          answers.get(c.id)?.body.outcome !== "accepted",
      );
      expect(
        failed.map((c) => `${c.label}: ${JSON.stringify(answers.get(c.id))}`),
      ).toEqual([]);
      const receipts = await s.app.db.webhookReceipt.findMany({
        where: { webhookId: { in: all.map((c) => `wh-text-${c.id}`) } },
      });
      expect(receipts.filter((r) => r.outcome === "accepted")).toHaveLength(
        all.length,
      );
      const rows = await s.app.db.outboxEvent.findMany({
        where: { eventId: { in: all.map((c) => `purchase_${c.id}`) } },
      });
      expect(rows).toHaveLength(all.length);
    });

    it("stores no NUL or lone surrogate, in any column", async () => {
      const rows = [
        ...(await s.app.db.outboxEvent.findMany({
          where: { eventId: { in: all.map((c) => `purchase_${c.id}`) } },
        })),
        ...(await s.app.db.webhookReceipt.findMany({
          where: { webhookId: { in: all.map((c) => `wh-text-${c.id}`) } },
        })),
      ];
      const bad = rows.flatMap((row) =>
        strings(row)
          .filter(unstorable)
          .map(
            (v) =>
              `${JSON.stringify(v)} in ${JSON.stringify(row).slice(0, 160)}`,
          ),
      );
      expect(bad).toEqual([]);
    });

    it("sends Meta every order, whole, with no NUL, lone surrogate or malformed click id, IP or user agent", async () => {
      const ids = all.map((c) => `purchase_${c.id}`);
      await eventually(
        async () =>
          (await s.app.db.outboxEvent.count({
            where: {
              eventId: { in: ids },
              status: { in: ["held", "pending", "sending"] },
            },
          })) === 0,
        30_000,
        "nothing left to send",
      );
      const sent = new Map(
        s.graph.eventsReceived().map((e) => [e.event_id, e]),
      );
      const problems: string[] = [];
      for (const c of all) {
        const event = sent.get(`purchase_${c.id}`);
        if (!event) {
          problems.push(`${c.label}: not sent`);
          continue;
        }
        const u = event.user_data;
        const check = (ok: boolean, what: string) =>
          ok || problems.push(`${c.label}: ${what}`);
        check(!strings(event).some(unstorable), "NUL or lone surrogate");
        // Valid data is kept: the order's money and its customer's hashed e-mail survive a hostile field elsewhere.
        check(
          event.custom_data?.value === 112.44 &&
            event.custom_data.currency === "CAD",
          "value lost",
        );
        check(
          c.label.includes("email") || (u.em?.length ?? 0) > 0,
          "e-mail hash lost",
        );
        check(
          u.fbc === undefined || /^fb\.\d+\.\d+\.[\x21-\x7e]+$/.test(u.fbc),
          `fbc ${JSON.stringify(u.fbc)}`,
        );
        check(
          u.client_ip_address === undefined || isIP(u.client_ip_address) !== 0,
          `IP ${JSON.stringify(u.client_ip_address)}`,
        );
        check(
          u.client_user_agent === undefined ||
            !CONTROL.test(u.client_user_agent),
          `user agent ${JSON.stringify(u.client_user_agent)}`,
        );
      }
      expect(problems).toEqual([]);
    });
  },
);
