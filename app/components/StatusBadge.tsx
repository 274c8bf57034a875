import { Badge } from "@shopify/polaris";
import { STATUS_LABEL } from "./labels";

export function StatusBadge({ status }: { status: string }) {
  const s = STATUS_LABEL[status] ?? { label: status, tone: undefined };
  return (
    <Badge
      tone={s.tone}
      progress={
        status === "sent"
          ? "complete"
          : status === "suppressed" ||
              status === "failed" ||
              status === "expired"
            ? undefined
            : "partiallyComplete"
      }
    >
      {s.label}
    </Badge>
  );
}
