import { InlineStack, Text } from "@shopify/polaris";
import {
  BarChart,
  PolarisVizProvider,
  type BarChartProps,
} from "@shopify/polaris-viz";
import type { MatchKey, StatusGroup, TimeBucket } from "../core/insights";
import { formatDay, formatHour, KEY_LABEL, STATUS_GROUP_LABEL } from "./labels";

// Polaris Viz charts. They measure their container, so they render in the browser only (a `.client` module: the
// server build gets none of it, and pages show a skeleton until hydration). They take their series in the order
// of the label tables, which follow the domain's lists (test/unit/stats.test.ts): the core itself, with its
// database and network code, stays out of the browser bundle.

const STATUS_GROUPS = Object.keys(STATUS_GROUP_LABEL) as StatusGroup[];
const MATCH_KEYS = Object.keys(KEY_LABEL) as MatchKey[];

const GROUP_COLOR: Record<StatusGroup, string> = {
  sent: "#29845a",
  waiting: "#5c9ee8",
  notSent: "#b5b5b5",
  failed: "#e51c00",
};

const integer = (value: string | number | null) =>
  new Intl.NumberFormat("en-US").format(Number(value ?? 0));

/** A bar chart of a fixed height, named for tests by `data-chart`, without animation or Polaris Viz's legend. */
function Bars({
  height,
  name,
  label,
  children,
  ...chart
}: BarChartProps & {
  height: number;
  name: string;
  label: string;
  children?: React.ReactNode;
}) {
  return (
    <PolarisVizProvider defaultTheme="Light">
      {/* Polaris Viz gives the svg a role whose required children it lacks (axe-core: critical); the chart is
          named as one image instead, its figures in the page's tables. */}
      <div role="img" aria-label={label} data-chart={name}>
        <div aria-hidden="true" style={{ height }}>
          <BarChart
            {...chart}
            theme="Light"
            isAnimated={false}
            // Polaris Viz measures its own legend after a first layout at zero width, which lays the bars out with
            // negative heights for a frame; a legend of our own (where one is needed) avoids that.
            showLegend={false}
          />
        </div>
      </div>
      {children}
    </PolarisVizProvider>
  );
}

export function EventsChart({
  buckets,
  hourly,
}: {
  buckets: TimeBucket[];
  hourly: boolean;
}) {
  const data = STATUS_GROUPS.map((group) => ({
    name: STATUS_GROUP_LABEL[group],
    color: GROUP_COLOR[group],
    data: buckets.map((b) => ({
      key: hourly ? formatHour(b.start) : formatDay(b.start),
      value: b.counts[group],
    })),
  }));
  return (
    <Bars
      height={280}
      name="events-per-day"
      label="Events over time, by status"
      data={data}
      type="stacked"
      yAxisOptions={{ integersOnly: true, labelFormatter: integer }}
      emptyStateText="No events in this period"
    >
      <InlineStack gap="400" align="center">
        {STATUS_GROUPS.map((group) => (
          <InlineStack key={group} gap="100" blockAlign="center">
            <span
              style={{
                width: 10,
                height: 10,
                borderRadius: "50%",
                background: GROUP_COLOR[group],
                display: "inline-block",
              }}
            />
            <Text as="span" variant="bodySm" tone="subdued">
              {STATUS_GROUP_LABEL[group]}
            </Text>
          </InlineStack>
        ))}
      </InlineStack>
    </Bars>
  );
}

export function CoverageChart({
  shares,
  label,
}: {
  shares: Record<MatchKey, number>;
  label: string;
}) {
  const data = [
    {
      name: label,
      color: "#4a7de2",
      data: MATCH_KEYS.map((key) => ({
        key: KEY_LABEL[key],
        value: Math.round(shares[key] * 100),
      })),
    },
  ];
  return (
    <Bars
      height={380}
      name="key-coverage"
      label={`${label}: share of events with each customer information key`}
      data={data}
      direction="horizontal"
      xAxisOptions={{ labelFormatter: (value) => `${value}%` }}
    />
  );
}
