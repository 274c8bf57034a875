import { useEffect } from "react";
import { useFetcher } from "@remix-run/react";
import {
  Banner,
  BlockStack,
  Button,
  InlineStack,
  ProgressBar,
  Text,
} from "@shopify/polaris";
import type { BackfillState } from "../routes/app.backfill";
import { TitledCard } from "./Section";
import { formatDateTime, formatNumber } from "./labels";

/** How often the page asks for the backfill's progress while it runs. */
const POLL_MS = 2_000;

/**
 * The merchant's backfill (decisions 79): the orders of the last 7 days, which Meta still accepts, read back from
 * Shopify and sent when their Purchase is missing. Progress is the reconciler's, polled from /app/backfill.
 */
export function BackfillCard({ initial }: { initial: BackfillState }) {
  const state = useFetcher<BackfillState>({ key: "backfill-state" });
  const request = useFetcher<BackfillState | { error: string }>({
    key: "backfill-request",
  });
  const { load, state: loading } = state;
  // The page's loader gives the first state; this card fetches only to follow a run (decisions 143).
  const data = state.data ?? initial;
  const b = data.backfill;
  const running = Boolean(b?.requestedAt && !b.finishedAt);

  // Once asked for, its progress is read from the loader.
  useEffect(() => {
    if (request.data && !("error" in request.data)) load("/app/backfill");
  }, [request.data, load]);
  useEffect(() => {
    if (loading !== "idle" || !running) return;
    const timer = setTimeout(() => load("/app/backfill"), POLL_MS);
    return () => clearTimeout(timer);
  }, [loading, running, load]);

  if (!data.connected) return null;
  const progress =
    b?.total && b.total > 0 ? Math.min(100, (b.done / b.total) * 100) : 0;
  return (
    <TitledCard as="h3" title="Send the last 7 days' orders">
      <Text as="p" tone="subdued">
        Orders whose notification from Shopify never reached the app are read
        back from Shopify and sent, if Meta still accepts them (up to 7 days
        old). Orders already sent are not sent again.
      </Text>
      {running && (
        <BlockStack gap="200">
          <ProgressBar progress={progress} size="small" />
          <Text as="p" tone="subdued">
            {b?.total === null
              ? "Starting…"
              : `${formatNumber(b!.done)} of ${formatNumber(b!.total)} orders checked · ${formatNumber(b!.recovered)} sent that had not arrived`}
          </Text>
        </BlockStack>
      )}
      {b?.finishedAt && !b.error && (
        <Banner tone="success">
          <p>
            {`Done ${formatDateTime(b.finishedAt)}: ${formatNumber(b.done)} orders checked, ${formatNumber(b.recovered)} that had not arrived were sent.`}
          </p>
        </Banner>
      )}
      {b?.finishedAt && b.error && (
        <Banner tone="critical" title="The last run stopped">
          <p>{b.error}</p>
          <p>Orders already taken are kept; start it again to finish.</p>
        </Banner>
      )}
      {request.data && "error" in request.data && (
        <Banner tone="critical">
          <p>{request.data.error}</p>
        </Banner>
      )}
      {!running && (
        <InlineStack>
          <Button
            onClick={() =>
              request.submit(null, { method: "post", action: "/app/backfill" })
            }
            loading={request.state !== "idle"}
          >
            Send the last 7 days
          </Button>
        </InlineStack>
      )}
    </TitledCard>
  );
}
