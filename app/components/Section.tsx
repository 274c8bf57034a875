import { BlockStack, Card, Text, type BlockStackProps } from "@shopify/polaris";

// The two frames the admin's pages repeat: a card under a heading, and a value under a small grey label.

export function TitledCard({
  title,
  as = "h2",
  children,
}: {
  title: React.ReactNode;
  as?: "h2" | "h3";
  children: React.ReactNode;
}) {
  return (
    <Card>
      <BlockStack gap="300">
        <Text as={as} variant="headingMd">
          {title}
        </Text>
        {children}
      </BlockStack>
    </Card>
  );
}

export function Labelled({
  label,
  gap = "100",
  children,
}: {
  label: string;
  gap?: BlockStackProps["gap"];
  children: React.ReactNode;
}) {
  return (
    <BlockStack gap={gap}>
      <Text as="h3" variant="bodySm" tone="subdued">
        {label}
      </Text>
      {children}
    </BlockStack>
  );
}
