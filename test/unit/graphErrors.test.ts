import { describe, expect, it } from "vitest";
import {
  classifyGraphError,
  UNKNOWN_ERROR_MAX_RETRIES,
  type GraphErrorInfo,
} from "../../app/core/meta/graphErrors";

describe("classifyGraphError", () => {
  const cases: [
    string,
    Parameters<typeof classifyGraphError>[0],
    GraphErrorInfo["kind"],
    GraphErrorInfo["retry"],
  ][] = [
    ["1 unknown", { httpStatus: 500, code: 1 }, "transient", "backoff"],
    ["2 service down", { httpStatus: 503, code: 2 }, "transient", "backoff"],
    [
      "4 app rate limit",
      { httpStatus: 400, code: 4 },
      "rate_limit",
      "long_backoff",
    ],
    [
      "17/2446079 user limit",
      { httpStatus: 400, code: 17, subcode: 2446079 },
      "rate_limit",
      "long_backoff",
    ],
    ["341", { httpStatus: 400, code: 341 }, "rate_limit", "long_backoff"],
    [
      "613/1487742 ad account",
      { httpStatus: 400, code: 613, subcode: 1487742 },
      "rate_limit",
      "long_backoff",
    ],
    ["80004", { httpStatus: 400, code: 80004 }, "rate_limit", "long_backoff"],
    ["368 blocked", { httpStatus: 400, code: 368 }, "blocked", "long_backoff"],
    ["190 no subcode", { httpStatus: 400, code: 190 }, "token", "pause_shop"],
    [
      "190/458",
      { httpStatus: 400, code: 190, subcode: 458 },
      "token",
      "pause_shop",
    ],
    [
      "190/460",
      { httpStatus: 400, code: 190, subcode: 460 },
      "token",
      "pause_shop",
    ],
    [
      "190/463",
      { httpStatus: 400, code: 190, subcode: 463 },
      "token",
      "pause_shop",
    ],
    [
      "190 unknown subcode",
      { httpStatus: 400, code: 190, subcode: 999 },
      "token",
      "pause_shop",
    ],
    ["104 no token", { httpStatus: 400, code: 104 }, "token", "pause_shop"],
    ["10", { httpStatus: 403, code: 10 }, "permission", "pause_shop"],
    ["200", { httpStatus: 403, code: 200 }, "permission", "pause_shop"],
    ["250", { httpStatus: 403, code: 250 }, "permission", "pause_shop"],
    ["299", { httpStatus: 403, code: 299 }, "permission", "pause_shop"],
    [
      "100/33 wrong pixel",
      { httpStatus: 400, code: 100, subcode: 33 },
      "wrong_pixel",
      "pause_shop",
    ],
    [
      "100/2804003 too old",
      { httpStatus: 400, code: 100, subcode: 2804003 },
      "event_too_old",
      "expire",
    ],
    [
      "100/2804050",
      { httpStatus: 400, code: 100, subcode: 2804050 },
      "invalid_event",
      "isolate",
    ],
    [
      "100 no subcode",
      { httpStatus: 400, code: 100 },
      "invalid_event",
      "isolate",
    ],
    ["HTTP 500 without a code", { httpStatus: 500 }, "transient", "backoff"],
    [
      "HTTP 502 with an unknown code",
      { httpStatus: 502, code: 123456 },
      "transient",
      "backoff",
    ],
    ["HTTP 429", { httpStatus: 429 }, "rate_limit", "long_backoff"],
    ["timeout", { network: "timeout" }, "transient", "backoff"],
    ["reset", { network: "reset" }, "transient", "backoff"],
    ["refused", { network: "refused" }, "transient", "backoff"],
    ["other network", { network: "other" }, "transient", "backoff"],
    ["unknown 4xx code", { httpStatus: 400, code: 9999 }, "unknown", "backoff"],
    [
      "unknown 4xx code marked transient",
      { httpStatus: 400, code: 9999, isTransient: true },
      "transient",
      "backoff",
    ],
    ["HTTP 404 without a body", { httpStatus: 404 }, "unknown", "backoff"],
    ["nothing known", {}, "unknown", "backoff"],
  ];

  it.each(cases)("%s", (_name, input, kind, retry) => {
    const info = classifyGraphError(input);
    expect(info.kind).toBe(kind);
    expect(info.retry).toBe(retry);
  });

  it("rules are matched in order: a token error on a 5xx is still a token error", () => {
    expect(classifyGraphError({ httpStatus: 500, code: 190 }).kind).toBe(
      "token",
    );
  });

  it("subcodes do not match another code's rule", () => {
    expect(
      classifyGraphError({ httpStatus: 400, code: 17, subcode: 33 }).kind,
    ).toBe("rate_limit");
    expect(
      classifyGraphError({ httpStatus: 400, code: 200, subcode: 2804003 }).kind,
    ).toBe("permission");
  });

  it("gives every kind a title and a fix for the merchant", () => {
    for (const [, input] of cases) {
      const info = classifyGraphError(input);
      expect(info.title.length).toBeGreaterThan(10);
      expect(info.fix.length).toBeGreaterThan(20);
    }
  });

  it("tells the merchant the concrete fix for the errors only they can fix", () => {
    expect(classifyGraphError({ code: 190 }).fix).toMatch(
      /System User access token.*Connect page/,
    );
    expect(classifyGraphError({ code: 100, subcode: 33 }).fix).toMatch(
      /pixel \(dataset\) ID.*System User/s,
    );
    expect(classifyGraphError({ code: 10 }).fix).toMatch(
      /System User.*full control/s,
    );
    expect(classifyGraphError({ code: 200 }).fix).toMatch(
      /System User.*full control/s,
    );
    expect(classifyGraphError({ network: "timeout" }).fix).toMatch(
      /sent again automatically/,
    );
  });

  it("documents the retry limit of unknown errors in the merchant's text", () => {
    expect(UNKNOWN_ERROR_MAX_RETRIES).toBeGreaterThan(0);
    expect(classifyGraphError({ httpStatus: 400, code: 9999 }).fix).toContain(
      String(UNKNOWN_ERROR_MAX_RETRIES),
    );
  });

  it("returns frozen infos that one caller cannot change for another", () => {
    const info = classifyGraphError({ code: 190 });
    expect(Object.isFrozen(info)).toBe(true);
  });
});
