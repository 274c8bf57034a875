import { z } from "zod";
import { ALL_ORDERS, ROUTE_CHANNELS, type RoutingRule } from "../wire";
import { letterCode } from "./settings";

// A destination's routing rule as the admin and the ops CLI send it, and as it is stored (decisions 130). The core
// gets the plain type of wire/routing.ts; this schema is its one check.

const list = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .min(1, "Choose at least one")
    .max(250)
    .transform((values) => [...new Set(values)]);

const handle = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9-]{0,99}$/, "Use the market's handle, e.g. canada");

export const routingRuleSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("all") }),
  z.object({
    kind: z.literal("market"),
    values: list(handle),
    countries: z
      .array(letterCode(2, "Use two-letter country codes, e.g. DE"))
      .max(250),
  }),
  z.object({
    kind: z.literal("country"),
    values: list(letterCode(2, "Use two-letter country codes, e.g. DE")),
  }),
  z.object({
    kind: z.literal("currency"),
    values: list(letterCode(3, "Use three-letter currency codes, e.g. EUR")),
  }),
  z.object({
    kind: z.literal("channel"),
    values: list(z.enum(ROUTE_CHANNELS)),
  }),
]);

/**
 * A stored rule. Null (a shop's own dataset before any rule was set) means all orders; a rule this version cannot
 * read matches nothing, since sending a market's orders to another market's dataset cannot be taken back.
 */
export function parseRoutingRule(stored: unknown): RoutingRule {
  if (stored === null || stored === undefined) return ALL_ORDERS;
  const parsed = routingRuleSchema.safeParse(stored);
  return parsed.success ? parsed.data : { kind: "country", values: [] };
}
