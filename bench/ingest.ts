import { startPixel } from "../test/support/pixelSandbox";
import {
  FIXTURE_SHOP,
  FIXTURE_USER_AGENT,
  fixtureInit,
  fixtureSettings,
  purchaseJourney,
} from "../test/fixtures/pixelEvents";
import {
  closedLoop,
  connectBenchShop,
  describeUnexpected,
  emit,
  keepAliveClient,
  machineLoad,
  PIXEL,
  percentile,
  progress,
  startBenchServer,
} from "./lib";

// The pixel endpoint (decisions 23): POST /ingest at concurrency 32. The bodies are what the real pixel bundle
// posts for a storefront journey (page view, product view, add to cart, checkout started, payment info, purchase),
// captured once in the strict-sandbox harness; each simulated visitor gets its own event ids, checkout token and
// IP address. The limits are raised (INGEST_* = 1,000,000) and TRUST_PROXY_HOPS=1 reads the varied
// X-Forwarded-For, so the per-client and per-shop limits (a noise filter) do not decide the figure. The in-process
// dispatcher is off so that the figure is the endpoint alone.

const CONCURRENCY = 32;
const UNLIMITED = "1000000";

interface WireBody {
  event?: {
    event_id: string;
    client_id?: string;
    checkout_token?: string;
    order_id?: string;
  };
  checkout_token?: string;
  client_id?: string;
}

export async function benchIngest(opts: {
  warmupMs: number;
  durationMs: number;
}): Promise<void> {
  const { graph, app } = await startBenchServer({
    env: {
      WEB_CONCURRENCY: "",
      DISPATCHER_IN_PROCESS: "false",
      TRUST_PROXY_HOPS: "1",
      INGEST_CLIENT_RATE_PER_SEC: UNLIMITED,
      INGEST_CLIENT_BURST: UNLIMITED,
      INGEST_SHOP_RATE_PER_SEC: UNLIMITED,
      INGEST_SHOP_BURST: UNLIMITED,
    },
  });
  try {
    await connectBenchShop(app, graph.url, FIXTURE_SHOP);
    const shop = await app.db.shop.findUniqueOrThrow({
      where: { domain: FIXTURE_SHOP },
    });
    const ingestUrl = `${app.url}/ingest`;
    const pixel = await startPixel({
      settings: fixtureSettings({
        pixelId: PIXEL,
        ingestUrl,
        shopKey: shop.ingestKey,
      }),
      init: fixtureInit(),
    });
    for (const step of purchaseJourney())
      await pixel.publish(step.name, step.event);
    const journey = pixel.appPosts().map((p) => p.body);
    if (journey.length < 6)
      throw new Error(
        `ingest: the pixel posted ${journey.length} bodies for the journey, expected 6`,
      );

    // Visitor v: its own browser (clientId), event ids, checkout token, order and address, so every request is new
    // work for the app: each visitor's PageView registers its browser, and its other events need it (decisions 39).
    const bodyFor = (i: number): string => {
      const visitor = Math.floor(i / journey.length);
      const body = JSON.parse(journey[i % journey.length]) as WireBody;
      if (body.client_id) body.client_id = `bench-${visitor}`;
      if (body.event) {
        if (body.event.client_id) body.event.client_id = `bench-${visitor}`;
        body.event.event_id = `${body.event.event_id.slice(0, 100)}-${visitor}`;
        if (body.event.checkout_token)
          body.event.checkout_token = `bench${visitor}`;
        if (body.event.order_id) {
          // A Purchase's id is the server's rule, purchase_<order id>.
          body.event.order_id = String(9_200_000_000_000 + visitor);
          body.event.event_id = `purchase_${body.event.order_id}`;
        }
      }
      if (body.checkout_token) body.checkout_token = `bench${visitor}`;
      return JSON.stringify(body);
    };
    const ipFor = (i: number) => {
      const visitor = Math.floor(i / journey.length);
      return `198.51.${(visitor >> 8) & 255}.${visitor & 255}`;
    };

    progress(
      `ingest: ${CONCURRENCY} clients, ${opts.warmupMs / 1000} s warm-up + ${opts.durationMs / 1000} s measured`,
    );
    const client = keepAliveClient(app.url, CONCURRENCY);
    // A visitor's six posts go out on different sockets at once: an event that overtakes its PageView is ignored.
    let ignored = 0;
    const result = await closedLoop({
      serverPid: app.pid!,
      concurrency: CONCURRENCY,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      expectStatus: 202,
      send: async (i) => {
        // As the pixel sends it: a CORS simple request, text/plain, no custom headers; the proxy adds the address.
        const res = await client.post(
          "/ingest",
          {
            "Content-Type": "text/plain;charset=UTF-8",
            "User-Agent": FIXTURE_USER_AGENT,
            "X-Forwarded-For": ipFor(i),
          },
          bodyFor(i),
        );
        if (res.body.includes('"outcome":"ignored"')) ignored++;
        return res.status;
      },
    });
    client.close();
    const problems = describeUnexpected(result);
    const note = `real pixel bodies (6-event journeys), concurrency ${CONCURRENCY}, ${result.count} requests measured over ${result.seconds} s, dispatcher off, INGEST_* limits raised, TRUST_PROXY_HOPS=1 with one X-Forwarded-For address and clientId per visitor; ${ignored} answers over the run were "ignored" (an event ahead of its visitor's PageView)${problems ? `; unexpected answers: ${problems}` : ""}`;
    emit(
      "pixel_ingest_throughput",
      result.count / result.seconds,
      "requests/s",
      { atLeast: 1500 },
      note,
    );
    emit("pixel_ingest_p50", percentile(result.latencies, 50), "ms");
    emit("pixel_ingest_p99", percentile(result.latencies, 99), "ms", {
      atMost: 50,
    });
    emit(
      "pixel_ingest_server_cpu_per_request",
      result.cpuMsPerRequest,
      "ms",
      undefined,
      `server process CPU time per request in the measured window; the load generator used ${result.clientCpuMsPerRequest.toFixed(2)} ms per request on the same cores; ${machineLoad()}`,
    );
  } finally {
    await app.close();
    await graph.close();
  }
}
