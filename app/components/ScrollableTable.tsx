import { DataTable, type DataTableProps } from "@shopify/polaris";
import { useEffect, useRef } from "react";

/**
 * Polaris' DataTable, whose horizontal scroll region (at a phone's width) takes keyboard focus: Polaris does not
 * make it focusable, so a keyboard could not scroll it (axe-core's scrollable-region-focusable, a serious finding).
 */
export function ScrollableTable({
  label,
  ...props
}: DataTableProps & { label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    for (const region of ref.current?.querySelectorAll(
      ".Polaris-DataTable__ScrollContainer",
    ) ?? []) {
      region.setAttribute("tabindex", "0");
      region.setAttribute("role", "region");
      region.setAttribute("aria-label", label);
    }
  });
  return (
    <div ref={ref}>
      <DataTable {...props} />
    </div>
  );
}
