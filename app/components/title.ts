import type { MetaFunction } from "@remix-run/node";

/** A page's document title (screen readers and the browser's history name the page by it). */
export const pageTitle =
  (page: string): MetaFunction =>
  () => [{ title: `${page} · Meta Conversions API` }];
