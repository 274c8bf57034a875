import {
  Badge,
  BlockStack,
  Button,
  Card,
  InlineStack,
  ProgressBar,
  Text,
} from "@shopify/polaris";

// The home page's first-run guide (decisions 116): each step done or to do, from what the shop's row records;
// gone once every step is done.

export interface SetupState {
  connected: boolean;
  pixelOn: boolean;
  testEventSent: boolean;
  testCodeActive: boolean;
  settingsSaved: boolean;
}

interface Step {
  id: string;
  title: string;
  help: string;
  done: boolean;
  action?: { content: string; url: string };
}

function stepsOf(s: SetupState): Step[] {
  return [
    {
      id: "connect",
      title: "Connect your Meta dataset",
      help: "In Meta Events Manager, open your dataset (pixel): its ID is the number under its name, and Settings › Conversions API › Generate access token gives the token. Paste both on the Connect page.",
      done: s.connected,
      action: { content: "Connect Meta", url: "/app/connect" },
    },
    {
      id: "pixel",
      title: "Check the storefront pixel is on",
      help: "The app's web pixel sends page views, add to carts and checkouts from your storefront. It is turned on when you connect; Shopify admin › Settings › Customer events lists it as Connected.",
      done: s.pixelOn,
    },
    {
      id: "test-event",
      title: "Send a test event and see it arrive",
      help: s.testCodeActive
        ? "Your test event code is active: open your storefront or place a test order. This step is done once Meta accepts the first event, and the event shows in Events Manager › Test events."
        : "Copy the code from Meta Events Manager › Test events into the Connect page, then open your storefront or place a test order: the event shows there within a minute.",
      done: s.testEventSent,
      action: s.testCodeActive
        ? undefined
        : { content: "Add a test event code", url: "/app/connect" },
    },
    {
      id: "consent",
      title: "Choose your consent policy",
      help: "Decide what is sent when a shopper has made no cookie choice, and in which regions tracking needs an opt-in. Saving the settings confirms it.",
      done: s.settingsSaved,
      action: { content: "Choose in Settings", url: "/app/settings" },
    },
  ];
}

export function SetupGuide({ state }: { state: SetupState }) {
  const steps = stepsOf(state);
  const done = steps.filter((step) => step.done).length;
  if (done === steps.length) return null;
  return (
    <div data-setup-guide>
      <Card>
        <BlockStack gap="400">
          <BlockStack gap="200">
            <InlineStack align="space-between" blockAlign="center" gap="200">
              <Text as="h2" variant="headingMd">
                Set up Meta Conversions API
              </Text>
              <Text as="p" tone="subdued">
                {done} of {steps.length} done
              </Text>
            </InlineStack>
            <ProgressBar
              progress={(done / steps.length) * 100}
              size="small"
              tone="primary"
              ariaLabelledBy="setup-progress"
            />
            <span id="setup-progress" hidden>
              Setup progress
            </span>
          </BlockStack>
          {steps.map((step) => (
            <div
              key={step.id}
              data-step={step.id}
              data-done={step.done ? "true" : "false"}
            >
              <InlineStack gap="300" blockAlign="start" wrap={false}>
                <Badge tone={step.done ? "success" : "attention"}>
                  {step.done ? "Done" : "To do"}
                </Badge>
                <BlockStack gap="100">
                  <Text as="h3" variant="headingSm">
                    {step.title}
                  </Text>
                  {!step.done && (
                    <Text as="p" tone="subdued">
                      {step.help}
                    </Text>
                  )}
                  {!step.done && step.action && (
                    <InlineStack>
                      <Button url={step.action.url}>
                        {step.action.content}
                      </Button>
                    </InlineStack>
                  )}
                </BlockStack>
              </InlineStack>
            </div>
          ))}
        </BlockStack>
      </Card>
    </div>
  );
}
