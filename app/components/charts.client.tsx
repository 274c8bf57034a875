import { InlineStack, Text } from "@shopify/polaris";
import { BarChart, PolarisVizProvider } from "@shopify/polaris-viz";
import { MATCH_KEYS, type MatchKey } from "../capi/matchQuality";
import { STATUS_GROUPS, type StatusGroup, type TimeBucket } from "../capi/stats";
import { formatDay, formatHour, KEY_LABEL, STATUS_GROUP_LABEL } from "./labels";

// Polaris Viz charts. They measure their container, so they render in the browser only (a `.client` module: the
// server build gets none of it, and pages show a skeleton until hydration).

const GROUP_COLOR: Record<StatusGroup, string> = {
  sent: "#29845a",
  waiting: "#5c9ee8",
  notSent: "#b5b5b5",
  failed: "#e51c00",
};

const integer = (value: string | number | null) => new Intl.NumberFormat("en-US").format(Number(value ?? 0));

export function EventsChart({ buckets, hourly }: { buckets: TimeBucket[]; hourly: boolean }) {
  const data = STATUS_GROUPS.map((group) => ({
    name: STATUS_GROUP_LABEL[group],
    color: GROUP_COLOR[group],
    data: buckets.map((b) => ({ key: hourly ? formatHour(b.start) : formatDay(b.start), value: b.counts[group] })),
  }));
  return (
    <PolarisVizProvider defaultTheme="Light">
      <div style={{ height: 280 }} data-chart="events-per-day">
        <BarChart
          data={data}
          type="stacked"
          theme="Light"
          isAnimated={false}
          yAxisOptions={{ integersOnly: true, labelFormatter: integer }}
          emptyStateText="No events in this period"
          // Polaris Viz measures its own legend after a first layout at zero width, which lays the bars out with
          // negative heights for a frame; a legend of our own avoids that.
          showLegend={false}
        />
      </div>
      <InlineStack gap="400" align="center">
        {STATUS_GROUPS.map((group) => (
          <InlineStack key={group} gap="100" blockAlign="center">
            <span style={{ width: 10, height: 10, borderRadius: "50%", background: GROUP_COLOR[group], display: "inline-block" }} />
            <Text as="span" variant="bodySm" tone="subdued">{STATUS_GROUP_LABEL[group]}</Text>
          </InlineStack>
        ))}
      </InlineStack>
    </PolarisVizProvider>
  );
}

export function CoverageChart({ shares, label }: { shares: Record<MatchKey, number>; label: string }) {
  const data = [
    {
      name: label,
      color: "#4a7de2",
      data: MATCH_KEYS.map((key) => ({ key: KEY_LABEL[key], value: Math.round(shares[key] * 100) })),
    },
  ];
  return (
    <PolarisVizProvider defaultTheme="Light">
      <div style={{ height: 380 }} data-chart="key-coverage">
        <BarChart
          data={data}
          direction="horizontal"
          theme="Light"
          isAnimated={false}
          showLegend={false}
          xAxisOptions={{ labelFormatter: (value) => `${value}%` }}
        />
      </div>
    </PolarisVizProvider>
  );
}
