import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  CA_PROVINCES,
  COUNTRIES,
  US_STATES,
} from "../../app/core/reference/geo";
import {
  countryCodeOf,
  hashMatchKeys,
  normalize,
  normalizeAndHash,
  sha256Hex,
  type HashField,
  type NormalizeContext,
} from "../../app/core/intake/normalize";
import { normalizeEmail } from "../../app/core/wire";

// The expected normalised literal is the assertion; its hash is computed independently here.
const sha = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

const US: NormalizeContext = { country: "US" };
const GB: NormalizeContext = { country: "GB" };
const DE: NormalizeContext = { country: "DE" };
const CA: NormalizeContext = { country: "CA" };
const NONE = undefined;

type Case = [
  field: HashField,
  raw: unknown,
  context: NormalizeContext | undefined,
  expected: string | null,
];

const CASES: Case[] = [
  // em: trim, lowercase; implausible addresses dropped
  ["em", "  John.Smith@Example.COM ", NONE, "john.smith@example.com"],
  ["em", "joe@eg.com", NONE, "joe@eg.com"],
  ["em", "Zoë@Exämple.de", NONE, null], // non-ASCII: Meta's SDK refuses it (decisions 107)
  ["em", "john+shop@mail.example.co.uk", NONE, "john+shop@mail.example.co.uk"],
  ["em", "john smith@example.com", NONE, null],
  ["em", "john@localhost", NONE, null],
  ["em", "john.example.com", NONE, null],
  ["em", "john@@example.com", NONE, null],
  ["em", "john@example..com", NONE, null],
  ["em", "john@.example.com", NONE, null],
  ["em", "@example.com", NONE, null],

  // ph: Meta's examples
  ["ph", "(650)555-1212", US, "16505551212"],
  ["ph", "+44 (0)20 7946 0958", NONE, "442079460958"],
  // ph: international prefixes; the explicit one wins over the address's country
  ["ph", "+44 (0)20 7946 0958", US, "442079460958"],
  ["ph", "0044 20 7946 0958", NONE, "442079460958"],
  ["ph", "00 44 20 7946 0958", US, "442079460958"],
  ["ph", "+44 020 7946 0958", NONE, "442079460958"],
  ["ph", "+49 (0)171 1234567", NONE, "491711234567"],
  ["ph", "0049 171 1234567", NONE, "491711234567"],
  ["ph", "+33 (0)6 12 34 56 78", NONE, "33612345678"],
  ["ph", "+7 916 123-45-67", NONE, "79161234567"],
  ["ph", "+55 11 99123-4567", NONE, "5511991234567"],
  ["ph", "tel:+1-650-555-1212", NONE, "16505551212"],
  // ph: national numbers take the address's calling code and lose the trunk prefix
  ["ph", "020 7946 0958", GB, "442079460958"],
  ["ph", "(0)20 7946 0958", GB, "442079460958"],
  ["ph", "07911 123456", { country: "gb" }, "447911123456"],
  ["ph", "0171 1234567", DE, "491711234567"],
  ["ph", "0171 1234567", { country: "Deutschland" }, "491711234567"],
  ["ph", "06 12 34 56 78", { country: "FR" }, "33612345678"],
  ["ph", "650-555-1212", { country: "us" }, "16505551212"],
  ["ph", "650.555.1212", { country: "United States" }, "16505551212"],
  ["ph", "098765 43210", { country: "IN" }, "919876543210"],
  ["ph", "8 (916) 123-45-67", { country: "RU" }, "79161234567"],
  ["ph", "８ ９１６ １２３ ４５ ６７", { country: "RU" }, "79161234567"],
  ["ph", "090-1234-5678", { country: "JP" }, "819012345678"],
  ["ph", "０９０-１２３４-５６７８", { country: "JP" }, "819012345678"],
  ["ph", "06-30-123-4567", { country: "HU" }, "36301234567"],
  // ph: Italy's leading 0 is part of the number, not a trunk prefix
  ["ph", "+39 06 1234 5678", NONE, "390612345678"],
  ["ph", "0039 06 1234 5678", NONE, "390612345678"],
  ["ph", "06 1234 5678", { country: "IT" }, "390612345678"],
  // ph: already international without the "+"
  ["ph", "1 (650) 555-1212", US, "16505551212"],
  ["ph", "44 7911 123456", GB, "447911123456"],
  ["ph", "91 98765 43210", { country: "IN" }, "919876543210"],
  ["ph", "79161234567", { country: "RU" }, "79161234567"],
  // ph: national numbers that merely start with the calling code's digits
  ["ph", "9198765432", { country: "IN" }, "919198765432"],
  ["ph", "701 123 4567", { country: "KZ" }, "77011234567"],
  ["ph", "(55) 99123-4567", { country: "BR" }, "5555991234567"],
  // ph: extensions and comments dropped
  ["ph", "+1 650 555 1212 x123", NONE, "16505551212"],
  ["ph", "650-555-1212 ext. 12", US, "16505551212"],
  ["ph", "(650) 555-1212 #4", US, "16505551212"],
  ["ph", "+1 650-555-1212 (mobile)", NONE, "16505551212"],
  ["ph", "+1 650 555 1212+44", NONE, "16505551212"],
  ["ph", "(650) 555-1212\u3000x12", US, "16505551212"],
  // ph: Unicode dashes and spaces are phone punctuation too
  ["ph", "650\u2013555\u20131212", US, "16505551212"],
  ["ph", "+1\u00a0650\u00a0555\u00a01212", NONE, "16505551212"],
  // ph: every whitespace and the ASCII punctuation (read without the regex) and the rest (read with it)
  ["ph", "650\t555\r\n1212", US, "16505551212"],
  ["ph", "650\v555\f1212", US, "16505551212"],
  ["ph", "650/555.1212", US, "16505551212"],
  ["ph", "650\u2028555\u20291212", US, "16505551212"],
  // ph: no country and no prefix: only what already looks international
  ["ph", "16505551212", NONE, "16505551212"],
  ["ph", "6505551212", NONE, null],
  ["ph", "020 7946 0958", NONE, null],
  ["ph", "4402079460958", NONE, "442079460958"],
  ["ph", 16505551212, NONE, "16505551212"],
  ["ph", 6505551212, US, "16505551212"],
  // ph: unusable
  ["ph", "+44 20", NONE, null],
  ["ph", "+1 650 555 1212 650 555 1212", NONE, null],
  ["ph", "1-800-FLOWERS", US, null],
  ["ph", "n/a", US, null],
  ["ph", "6505551212", { country: "Atlantis" }, null],

  // fn, ln: lowercase, NFC, no punctuation, symbols or whitespace; letters of any script kept
  ["fn", "Mary", NONE, "mary"],
  ["fn", "  MARY  ", NONE, "mary"],
  ["fn", "Valéry", NONE, "valéry"],
  ["fn", "Vale\u0301ry", NONE, "valéry"],
  ["fn", "\u212Bngstr\u00f6m", NONE, "ångström"], // ANGSTROM SIGN, composed by NFC into Å
  ["fn", "정", NONE, "정"],
  ["ln", "Zoë O'Brien-Smith", NONE, "zoëobriensmith"],
  ["ln", "O’Brien", NONE, "obrien"],
  ["fn", "Mary Ann", NONE, "maryann"],
  ["fn", "Jean-Luc", NONE, "jeanluc"],
  ["fn", "ÉMILIE", NONE, "émilie"],
  ["ln", "Müller", NONE, "müller"],
  ["ln", "Иванов", NONE, "иванов"],
  ["ln", "山田", NONE, "山田"],
  ["fn", "José!!!", NONE, "josé"],
  ["fn", "😀 Ann", NONE, "ann"],
  ["fn", "İlkay", NONE, "i\u0307lkay"],
  ["fn", "...", NONE, null],
  ["fn", 42, NONE, null],

  // ge
  ["ge", "f", NONE, "f"],
  ["ge", "F", NONE, "f"],
  ["ge", " Female ", NONE, "f"],
  ["ge", "woman", NONE, "f"],
  ["ge", "MALE", NONE, "m"],
  ["ge", "m", NONE, "m"],
  ["ge", "Man", NONE, "m"],
  ["ge", "x", NONE, null],
  ["ge", "other", NONE, null],

  // db: YYYYMMDD from common formats
  ["db", "1990-03-15", NONE, "19900315"],
  ["db", "1990/03/15", NONE, "19900315"],
  ["db", "1990-3-5", NONE, "19900305"],
  ["db", "19900315", NONE, "19900315"],
  ["db", 19900315, NONE, "19900315"],
  ["db", "1990-03-15T00:00:00Z", NONE, "19900315"],
  ["db", "1990-03-15 23:30:00", NONE, "19900315"],
  ["db", "March 15, 1990", NONE, "19900315"],
  ["db", "March 15th, 1990", NONE, "19900315"],
  ["db", "Mar 15 1990", NONE, "19900315"],
  ["db", "15 March 1990", NONE, "19900315"],
  ["db", "15-Mar-1990", NONE, "19900315"],
  ["db", "15/03/1990", NONE, "19900315"],
  ["db", "03/15/1990", NONE, "19900315"],
  ["db", "15.03.1990", NONE, "19900315"],
  // db: both parts ≤ 12: month first in the US or without a country, day first elsewhere or with dots
  ["db", "03/04/1990", NONE, "19900304"],
  ["db", "03/04/1990", US, "19900304"],
  ["db", "03/04/1990", DE, "19900403"],
  ["db", "03-04-1990", GB, "19900403"],
  ["db", "03.04.1990", NONE, "19900403"],
  // db: validated
  ["db", "2000-02-29", NONE, "20000229"],
  ["db", "1900-02-29", NONE, null],
  ["db", "1990-02-30", NONE, null],
  ["db", "31/04/1990", NONE, null],
  ["db", "13/13/1990", NONE, null],
  ["db", "1899-12-31", NONE, null],
  ["db", "2999-01-01", NONE, null],
  ["db", "15/03/90", NONE, null],
  ["db", "someday", NONE, null],

  // ct: lowercase, letters only (any script)
  ["ct", "New York", NONE, "newyork"],
  ["ct", "São Paulo", NONE, "sãopaulo"],
  ["ct", "Québec", NONE, "québec"],
  ["ct", "Mu\u0308nchen", NONE, "münchen"],
  ["ct", "St. John's", NONE, "stjohns"],
  ["ct", "Winston-Salem", NONE, "winstonsalem"],
  ["ct", "Zürich 8001", NONE, "zürich"],
  ["ct", "東京都", NONE, "東京都"],
  ["ct", "123", NONE, null],

  // st: US and Canada give the 2-letter code
  ["st", "California", US, "ca"],
  ["st", "CA", US, "ca"],
  ["st", "ca", US, "ca"],
  ["st", "New York", { country: "us" }, "ny"],
  ["st", "US-CA", US, "ca"],
  ["st", "District of Columbia", US, "dc"],
  ["st", "Washington, D.C.", US, "dc"],
  ["st", "Calif.", US, null],
  ["st", "Québec", CA, "qc"],
  ["st", "Quebec", CA, "qc"],
  ["st", "Que\u0301bec", CA, "qc"],
  ["st", "QC", CA, "qc"],
  ["st", "Île-du-Prince-Édouard", CA, "pe"],
  ["st", "Ontario", { country: "Canada" }, "on"],
  ["st", "Somewhere Else", CA, "somewhereelse"],
  // st: without a country, a 2-letter code or a US or Canadian name
  ["st", "California", NONE, "ca"],
  ["st", "CA", NONE, "ca"],
  ["st", "Quebec", NONE, "qc"],
  ["st", "Bavaria", NONE, "bavaria"],
  // st: elsewhere lowercase without punctuation or spaces, never truncated
  ["st", "Bayern", DE, "bayern"],
  ["st", "Nordrhein-Westfalen", DE, "nordrheinwestfalen"],
  ["st", "Greater London", GB, "greaterlondon"],
  ["st", "NSW", { country: "AU" }, "nsw"],
  ["st", "Île-de-France", { country: "FR" }, "îledefrance"],
  ["st", "São Paulo", { country: "BR" }, "sãopaulo"],

  // zp: US first 5 digits
  ["zp", "94025-1234", US, "94025"],
  ["zp", "940251234", US, "94025"],
  ["zp", " 94025 ", US, "94025"],
  ["zp", 94025, US, "94025"],
  ["zp", 2134, US, "02134"],
  ["zp", "02134", US, "02134"],
  ["zp", "9402", US, null],
  ["zp", "ABCDE", US, null],
  ["zp", "94025-1234", NONE, "94025"],
  // zp: UK whole postcode without spaces (Meta's example m11ae)
  ["zp", "SW1A 1AA", GB, "sw1a1aa"],
  ["zp", "M1 1AE", GB, "m11ae"],
  ["zp", "SW1A 1AA", NONE, "sw1a1aa"],
  // zp: elsewhere lowercase alphanumerics
  ["zp", "K1A 0B6", CA, "k1a0b6"],
  ["zp", "10115", DE, "10115"],
  ["zp", "1012 AB", { country: "NL" }, "1012ab"],
  ["zp", "01310-100", { country: "BR" }, "01310100"],
  ["zp", "〒100-0001", { country: "JP" }, "1000001"],
  ["zp", "---", NONE, null],

  // country: alpha-2 lowercase from codes and names
  ["country", "US", NONE, "us"],
  ["country", "us", NONE, "us"],
  ["country", "USA", NONE, "us"],
  ["country", "U.S.A.", NONE, "us"],
  ["country", "United States", NONE, "us"],
  ["country", "united states of america", NONE, "us"],
  ["country", "UK", NONE, "gb"],
  ["country", "United Kingdom", NONE, "gb"],
  ["country", "Great Britain", NONE, "gb"],
  ["country", "England", NONE, "gb"],
  ["country", "GBR", NONE, "gb"],
  ["country", "Deutschland", NONE, "de"],
  ["country", "Germany", NONE, "de"],
  ["country", "DEU", NONE, "de"],
  ["country", "Côte d'Ivoire", NONE, "ci"],
  ["country", "Cote d’Ivoire", NONE, "ci"],
  ["country", "Korea, Republic of", NONE, "kr"],
  ["country", "St Kitts and Nevis", NONE, "kn"],
  ["country", "Trinidad & Tobago", NONE, "tt"],
  ["country", "Großbritannien", NONE, "gb"],
  ["country", "XK", NONE, "xk"],
  ["country", "Atlantis", NONE, null],
  ["country", "ZZ", NONE, null],
  ["country", 840, NONE, null],

  // external_id: trimmed and lowercased, as Meta's libraries do (decisions 107)
  ["external_id", "  Cust-ABC123 ", NONE, "cust-abc123"],
  [
    "external_id",
    "gid://shopify/Customer/123",
    NONE,
    "gid://shopify/customer/123",
  ],
  ["external_id", 12345, NONE, "12345"],
  ["external_id", "a".repeat(1000), NONE, "a".repeat(1000)],
];

describe("normalize", () => {
  it.each(CASES)("%s %j (%j) -> %j", (field, raw, context, expected) => {
    expect(normalize(field, raw, context)).toBe(expected);
  });
});

describe("normalizeAndHash", () => {
  it.each(CASES)(
    "%s %j (%j) hashes its normalised value",
    (field, raw, context, expected) => {
      expect(normalizeAndHash(field, raw, context)).toBe(
        expected === null ? null : sha(expected),
      );
    },
  );

  it("hashes to lowercase hex", () => {
    expect(normalizeAndHash("em", "Joe@EG.com")).toMatch(/^[0-9a-f]{64}$/);
    expect(sha256Hex("16505551212")).toBe(sha("16505551212"));
  });

  const hashed =
    "309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd"; // from Meta's SDK examples
  it.each<[HashField, string, string]>([
    ["em", hashed, hashed],
    ["em", hashed.toUpperCase(), hashed],
    ["ph", ` ${hashed.toUpperCase()}\n`, hashed],
    ["fn", hashed, hashed],
    ["external_id", hashed.toUpperCase(), hashed],
  ])(
    "passes an already hashed %s through lowercased: %j",
    (field, raw, expected) => {
      expect(normalizeAndHash(field, raw)).toBe(expected);
    },
  );

  it("hashes a 32-hex value: an MD5-looking customer id is raw data", () => {
    const md5Like = "0CC175B9C0F1B6A831C399E269772661";
    expect(normalizeAndHash("external_id", md5Like)).toBe(
      sha(md5Like.toLowerCase()),
    );
  });

  it("hashes hex strings that are not exactly 64 characters", () => {
    expect(normalizeAndHash("external_id", hashed.slice(1))).toBe(
      sha(hashed.slice(1)),
    );
    expect(normalizeAndHash("external_id", `${hashed}0`)).toBe(
      sha(`${hashed}0`),
    );
  });
});

describe("hashMatchKeys", () => {
  const hashed =
    "309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd";

  it("hashes each key's values as normalizeAndHash does, each hash once, keys in order, empty keys left out", () => {
    const keys = hashMatchKeys([
      [
        "em",
        [
          ["Joe@EG.com ", null],
          ["joe@eg.com", null],
          [null, null],
          ["JOE@eg.com", null],
        ],
      ],
      [
        "ph",
        [
          ["020 7946 0958", "GB"],
          ["+44 20 7946 0958", null],
          ["n/a", "GB"],
        ],
      ],
      [
        "ct",
        [
          [undefined, null],
          ["123", null],
        ],
      ],
      [
        "zp",
        [
          ["SW1A 1AA", "GB"],
          ["SW1A 1AA", null],
          ["sw1a1aa", "GB"],
        ],
      ],
      [
        "st",
        [
          ["California", "US"],
          ["CA", "US"],
          ["California", null],
          ["CA", null],
        ],
      ],
    ]);
    expect(keys).toEqual({
      em: [sha("joe@eg.com")],
      ph: [sha("442079460958")],
      zp: [sha("sw1a1aa")],
      st: [sha("ca")],
    });
    expect(Object.keys(keys)).toEqual(["em", "ph", "zp", "st"]);
  });

  it("normalises each value for its own country", () => {
    const keys = hashMatchKeys([
      [
        "ph",
        [
          ["(650) 555-1212", "US"],
          ["020 7946 0958", "GB"],
          ["020 7946 0958", null],
        ],
      ],
    ]);
    expect(keys).toEqual({ ph: [sha("16505551212"), sha("442079460958")] });
  });

  it("keeps a value that already is a hash apart from one that normalises to the same hex", () => {
    const dashed = `${hashed.slice(0, 32)}-${hashed.slice(32)}`; // normalises (fn) to `hashed`, then is hashed
    expect(
      hashMatchKeys([
        [
          "fn",
          [
            [hashed, null],
            [dashed, null],
            [hashed.toUpperCase(), null],
          ],
        ],
      ]),
    ).toEqual({
      fn: [hashed, sha(hashed)],
    });
    expect(
      hashMatchKeys([
        [
          "fn",
          [
            [dashed, null],
            [` ${hashed} `, null],
          ],
        ],
      ]),
    ).toEqual({ fn: [sha(hashed), hashed] });
  });

  it("counts an e-mail address equal to one read already once, and reads another key's such value again", () => {
    expect(
      hashMatchKeys([
        [
          "em",
          [
            [" Joe@EG.com", null],
            ["joe@eg.com", null],
          ],
        ],
      ]),
    ).toEqual({ em: [sha("joe@eg.com")] });
    // The second phone is the first one's normalised digits, read for another country: it normalises to another number.
    expect(
      hashMatchKeys([
        [
          "ph",
          [
            ["+1 650 555 1212", null],
            ["16505551212", "GB"],
          ],
        ],
      ]),
    ).toEqual({ ph: [sha("16505551212"), sha("4416505551212")] });
  });

  it("lists a hash once when a value already hashed equals another value's hash", () => {
    expect(
      hashMatchKeys([
        [
          "em",
          [
            ["joe@eg.com", null],
            [sha("joe@eg.com"), null],
          ],
        ],
      ]),
    ).toEqual({
      em: [sha("joe@eg.com")],
    });
  });
});

describe("unusable input gives null and never throws", () => {
  const FIELDS: HashField[] = [
    "em",
    "ph",
    "fn",
    "ln",
    "ge",
    "db",
    "ct",
    "st",
    "zp",
    "country",
    "external_id",
  ];
  const JUNK: unknown[] = [
    null,
    undefined,
    {},
    [],
    ["joe@eg.com"],
    { toString: () => "joe@eg.com" },
    Object.create(null),
    () => "x",
    Symbol("x"),
    true,
    NaN,
    Infinity,
    -1,
    1.5,
    -1n,
    "",
    "   ",
    "\n\t",
    "x".repeat(1001),
    `joe@eg.com${" ".repeat(1000)}`,
    `+1${"6".repeat(5000)}`,
    `${"a".repeat(5000)}@${"b".repeat(5000)}.com`,
  ];
  it.each(FIELDS)("%s", (field) => {
    for (const raw of JUNK) {
      expect(normalize(field, raw)).toBeNull();
      expect(normalizeAndHash(field, raw)).toBeNull();
    }
  });

  it("ignores a context that is not a country", () => {
    for (const country of [
      null,
      undefined,
      "",
      "ZZ",
      "xx",
      42 as unknown as string,
    ]) {
      expect(normalize("ph", "+44 20 7946 0958", { country })).toBe(
        "442079460958",
      );
      expect(normalize("ph", "020 7946 0958", { country })).toBeNull();
    }
  });

  it("survives a hostile context", () => {
    const hostile = {
      get country(): string {
        throw new Error("boom");
      },
    };
    expect(normalize("ph", "020 7946 0958", hostile)).toBeNull();
    expect(normalizeAndHash("zp", "94025", hostile)).toBeNull();
  });

  it("accepts a bigint where a number is accepted", () => {
    expect(normalize("external_id", 12345n)).toBe("12345");
    expect(normalize("ph", 16505551212n)).toBe("16505551212");
    expect(normalize("fn", 1n)).toBeNull();
  });

  it("accepts a Date for db, read in UTC", () => {
    expect(normalize("db", new Date(Date.UTC(1990, 2, 15)))).toBe("19900315");
    expect(normalize("db", new Date("invalid"))).toBeNull();
    expect(normalize("fn", new Date())).toBeNull();
  });
});

describe("countryCodeOf", () => {
  it.each<[unknown, string | null]>([
    ["US", "US"],
    ["usa", "US"],
    ["United States", "US"],
    ["UK", "GB"],
    ["gb", "GB"],
    [" Deutschland ", "DE"],
    ["España", "ES"],
    ["The Netherlands", "NL"],
    ["XK", "XK"],
    ["UAE", "AE"],
    ["", null],
    ["Narnia", null],
    [42, null],
    [null, null],
  ])("%j -> %j", (raw, expected) => {
    expect(countryCodeOf(raw)).toBe(expected);
  });
});

describe("geo tables", () => {
  it("cover every ISO 3166-1 country once, plus Kosovo", () => {
    const codes = COUNTRIES.map((row) => row[0]);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.length).toBe(250);
    expect(new Set(COUNTRIES.map((row) => row[1])).size).toBe(codes.length);
    for (const [alpha2, alpha3, callingCode] of COUNTRIES) {
      expect(alpha2).toMatch(/^[A-Z]{2}$/);
      expect(alpha3).toMatch(/^[A-Z]{3}$/);
      expect(callingCode).toMatch(/^[1-9]\d{0,2}$/);
    }
  });

  it("resolve every code, name and alias to its own country (no collisions)", () => {
    for (const [alpha2, alpha3, , ...names] of COUNTRIES) {
      for (const name of [alpha2, alpha2.toLowerCase(), alpha3, ...names]) {
        expect([name, countryCodeOf(name)]).toEqual([name, alpha2]);
      }
    }
  });

  it("resolve every US state and Canadian province by code and name", () => {
    for (const [rows, country] of [
      [US_STATES, "US"],
      [CA_PROVINCES, "CA"],
    ] as const) {
      for (const [code, ...names] of rows) {
        for (const name of [code, ...names]) {
          expect([name, normalize("st", name, { country })]).toEqual([
            name,
            code.toLowerCase(),
          ]);
          if (name.length > 2)
            expect([name, normalize("st", name)]).toEqual([
              name,
              code.toLowerCase(),
            ]);
        }
      }
    }
  });
});

// Normalisation as Meta's own libraries read a value (issue 16, decisions 107): each row is one rule.
type Row = [
  rule: string,
  field: HashField,
  raw: unknown,
  context: NormalizeContext | undefined,
  expected: string | null,
];

const ROWS: Row[] = [
  // e-mail: what Meta's SDK would reject is dropped, not hashed
  ["address literal", "em", "joe@[192.168.0.1]", NONE, null],
  ["IPv6 address literal", "em", "joe@[IPv6:2001:db8::1]", NONE, null],
  ["numeric top-level domain", "em", "joe@192.168.0.1", NONE, null],
  [
    "consecutive dots in the local part",
    "em",
    "john..smith@example.com",
    NONE,
    null,
  ],
  ["leading dot in the local part", "em", ".john@example.com", NONE, null],
  ["trailing dot in the local part", "em", "john.@example.com", NONE, null],
  ["quoted local part", "em", '"john smith"@example.com', NONE, null],
  ["quoted local part without a space", "em", '"john"@example.com', NONE, null],
  ["non-ASCII domain", "em", "joe@exämple.de", NONE, null],
  [
    "non-ASCII local part is kept",
    "em",
    "zoë@example.de",
    NONE,
    "zoë@example.de",
  ],
  [
    "IDN domain in punycode",
    "em",
    "joe@xn--exmple-cua.de",
    NONE,
    "joe@xn--exmple-cua.de",
  ],
  [
    "punycode top-level domain",
    "em",
    "joe@example.xn--p1ai",
    NONE,
    "joe@example.xn--p1ai",
  ],
  ["label starting with a hyphen", "em", "joe@-example.com", NONE, null],
  ["label ending with a hyphen", "em", "joe@example-.com", NONE, null],
  [
    "inner hyphen",
    "em",
    "joe@my-shop.example.com",
    NONE,
    "joe@my-shop.example.com",
  ],
  ["underscore label", "em", "joe@my_shop.example.com", NONE, null],
  ["mailto: prefix", "em", "mailto:joe@example.com", NONE, null],
  ["MAILTO: prefix", "em", "MAILTO:Joe@Example.com", NONE, null],
  [
    "zero-width space removed",
    "em",
    "jo\u200be@example.com",
    NONE,
    "joe@example.com",
  ],
  ["BOM removed", "em", "\ufeffjoe@example.com", NONE, "joe@example.com"],
  [
    "no-break space removed",
    "em",
    "joe@example.com\u00a0",
    NONE,
    "joe@example.com",
  ],
  ["local part over 64", "em", `${"a".repeat(65)}@example.com`, NONE, null],
  [
    "local part of 64",
    "em",
    `${"a".repeat(64)}@example.com`,
    NONE,
    `${"a".repeat(64)}@example.com`,
  ],
  [
    "plus and apostrophe kept",
    "em",
    "o'brien+shop@example.com",
    NONE,
    "o'brien+shop@example.com",
  ],
  // external_id: trimmed and lowercased, as Meta's libraries do
  [
    "external_id lowercased",
    "external_id",
    "  Cust-ABC123 ",
    NONE,
    "cust-abc123",
  ],
  ["external_id digits", "external_id", 12345, NONE, "12345"],
  // gender
  ["M.", "ge", "M.", NONE, "m"],
  ["f.", "ge", "f.", NONE, "f"],
  ["fe-male", "ge", "fe-male", NONE, "f"],
  ["Male", "ge", "Male", NONE, "m"],
  ["Frau", "ge", "Frau", NONE, "f"],
  ["Herr", "ge", "Herr", NONE, "m"],
  ["männlich", "ge", "männlich", NONE, "m"],
  ["weiblich", "ge", "Weiblich", NONE, "f"],
  ["femme", "ge", "Femme", NONE, "f"],
  ["homme", "ge", "homme", NONE, "m"],
  ["mujer", "ge", "Mujer", NONE, "f"],
  ["hombre", "ge", "hombre", NONE, "m"],
  ["Mr.", "ge", "Mr.", NONE, "m"],
  ["Mrs.", "ge", "Mrs.", NONE, "f"],
  ["ambiguous: divers", "ge", "divers", NONE, null],
  ["ambiguous: m/f", "ge", "m/f", NONE, null],
  ["ambiguous: unknown", "ge", "unknown", NONE, null],
  // phone
  ["underscores", "ph", "650_555_1212", US, "16505551212"],
  [
    "underscores, international",
    "ph",
    "+44_20_7946_0958",
    NONE,
    "442079460958",
  ],
  ["00 access prefix", "ph", "0044 20 7946 0958", NONE, "442079460958"],
  [
    "011 access prefix from the US",
    "ph",
    "011 44 20 7946 0958",
    US,
    "442079460958",
  ],
  [
    "011 access prefix from Canada",
    "ph",
    "011-49-30-1234567",
    CA,
    "49301234567",
  ],
  [
    "011 from the US with the trunk (0)",
    "ph",
    "011 44 (0)20 7946 0958",
    US,
    "442079460958",
  ],
  [
    "011… in the UK is a national number",
    "ph",
    "0114 496 0000",
    GB,
    "441144960000",
  ],
  // postcode
  ["one letter", "zp", "A", NONE, null],
  ["one letter, lowercase", "zp", "b", GB, null],
  ["starts with a dash", "zp", "-12345", NONE, null],
  ["a lone dash", "zp", "-", NONE, null],
  ["one digit is kept", "zp", "7", NONE, "7"],
  ["two letters are kept", "zp", "AB", NONE, "ab"],
  // date of birth
  ["CJK date", "db", "1990年1月15日", NONE, "19900115"],
  ["CJK date with spaces", "db", "1990 年 01 月 05 日", NONE, "19900105"],
  [
    "CJK date, full-width digits",
    "db",
    "１９９０年１２月３１日",
    NONE,
    "19901231",
  ],
  ["Korean date", "db", "1990년 1월 15일", NONE, "19900115"],
  ["CJK date without 日", "db", "1990年1月15", NONE, "19900115"],
  ["CJK impossible date", "db", "1990年2月30日", NONE, null],
  // kept better than Meta's libraries
  [
    "E.164 without the trunk (0)",
    "ph",
    "+44 (0)20 7946 0958",
    NONE,
    "442079460958",
  ],
  ["extension dropped", "ph", "+1 650 555 1212 ext. 12", NONE, "16505551212"],
  ["NFC name", "fn", "Zoe\u0308", NONE, "zoë"],
];

describe("normalisation as Meta reads it", () => {
  it.each(ROWS)("%s: %s %j -> %j", (_, field, raw, context, expected) => {
    expect(normalize(field, raw, context)).toBe(expected);
  });

  it("the pixel's e-mail rule is the server's (one definition in app/core/wire)", () => {
    for (const [, field, raw, , expected] of ROWS)
      if (field === "em") expect(normalizeEmail(raw as string)).toBe(expected);
  });
});
