import { brotliCompressSync, gzipSync } from "node:zlib";
import { MAX_PIXEL_BYTES } from "../scripts/build-pixel";
import {
  fixtureInit,
  fixtureSettings,
  purchaseJourney,
} from "../test/fixtures/pixelEvents";
import { pixelBundle, startPixel } from "../test/support/pixelSandbox";
import { emit, percentile, progress } from "./lib";

// Storefront impact of the web pixel (issue 18): the bundle Shopify serves, the work it does per storefront event,
// and how it sends. The real bundle runs in the strict-sandbox harness of the tests (a fresh vm context with only
// worker globals, as Shopify's sandbox is a web worker); the figures are its CPU time in this process, so they
// include the harness' own small overhead.

const JOURNEYS = 200;

export async function benchPixel(): Promise<void> {
  const code = await pixelBundle();
  const bytes = Buffer.byteLength(code);
  emit(
    "pixel_bundle_bytes",
    bytes,
    "bytes",
    { atMost: MAX_PIXEL_BYTES },
    `minified; ${gzipSync(code).length} bytes gzip, ${brotliCompressSync(code).length} bytes Brotli; Shopify's limit is 128 kB`,
  );

  progress(`pixel: ${JOURNEYS} purchase journeys of 6 events`);
  const starts: number[] = [];
  const perEvent: number[] = [];
  let requests = 0;
  let notKeepalive = 0;
  for (let i = 0; i < JOURNEYS; i++) {
    let cpu = process.cpuUsage();
    const px = await startPixel({
      settings: fixtureSettings(),
      init: fixtureInit(),
    });
    starts.push(cpuMicros(cpu));
    for (const step of purchaseJourney()) {
      cpu = process.cpuUsage();
      await px.publish(step.name, step.event);
      perEvent.push(cpuMicros(cpu));
    }
    requests += px.requests.length;
    notKeepalive += px.requests.filter((r) => r.init.keepalive !== true).length;
  }
  emit(
    "pixel_cpu_per_event_p50",
    percentile(perEvent, 50),
    "µs",
    undefined,
    `CPU per storefront event (page view → checkout completed, hashing of e-mail and phone included), over ${perEvent.length} events; p99 ${Math.round(percentile(perEvent, 99))} µs`,
  );
  emit(
    "pixel_cpu_per_page_start_p50",
    percentile(starts, 50),
    "µs",
    undefined,
    "evaluating the bundle and registering its subscriptions, once per page",
  );
  emit(
    "pixel_requests_per_journey",
    requests / JOURNEYS,
    "requests",
    undefined,
    "to the app's /ingest and Meta's image pixel, each a fetch from the sandbox's worker",
  );
  emit(
    "pixel_requests_not_keepalive",
    notKeepalive,
    "requests",
    { atMost: 0 },
    "every request is a fire-and-forget fetch with keepalive from the worker: none blocks the page or its unload",
  );
}

function cpuMicros(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return d.user + d.system;
}
