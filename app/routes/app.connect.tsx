import { useEffect, useRef, useState } from "react";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import {
  Form,
  useActionData,
  useLoaderData,
  useNavigation,
} from "@remix-run/react";
import {
  Banner,
  BlockStack,
  Button,
  Card,
  FormLayout,
  InlineStack,
  Layout,
  List,
  Page,
  Text,
  TextField,
} from "@shopify/polaris";
import { useAppBridge } from "@shopify/app-bridge-react";
import { FormSaveBar } from "../components/FormSaveBar";
import { authenticate } from "../shopify.server";
import prisma, { outbox } from "../db.server";
import { connectDeps } from "../runtime.server";
import {
  connectShop,
  ensureShop,
  maskToken,
  type Backfill,
} from "../core/shops";
import { releaseNotConnected } from "../core/intake";
import { isInsideWindow } from "../core/outbox";
import { parseSettings } from "../core/reference";
import { syncWebPixel } from "../webPixel.server";
import { shopChanged } from "../http/shopCache.server";
import { BackfillCard } from "../components/BackfillCard";
import { pageTitle } from "../components/title";

export const meta = pageTitle("Connect Meta");

export const loader = async ({ request }: LoaderFunctionArgs) => {
  const { session } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const waiting = await prisma.outboxEvent.findMany({
    where: {
      shopId: shop.id,
      status: "suppressed",
      suppressReason: "not_connected",
    },
    select: { actionSource: true, eventTime: true },
  });
  // The token itself never leaves the server: the page gets its last four characters only.
  return {
    connected: Boolean(shop.pixelId && shop.tokenCiphertext),
    pixelId: shop.pixelId ?? "",
    pixelName: shop.pixelName,
    tokenMasked: shop.tokenCiphertext ? maskToken(shop.tokenLast4) : null,
    testEventCode: shop.testEventCode ?? "",
    graphApiVersion: shop.graphApiVersion ?? "",
    testCodeTtlHours: parseSettings(shop.settings).testEventCodeTtlHours,
    backfill: (shop.backfill as Backfill | null) ?? null,
    pausedReason: shop.pausedReason,
    notConnectedSendable: waiting.filter(
      (r: { actionSource: string; eventTime: Date }) => isInsideWindow(r),
    ).length,
  };
};

export const action = async ({ request }: ActionFunctionArgs) => {
  const { session, admin } = await authenticate.admin(request);
  const form = await request.formData();
  const field = (name: string) => String(form.get(name) ?? "");
  const shop = await ensureShop(prisma, session.shop);

  if (field("intent") === "send_waiting") {
    const released = await releaseNotConnected(outbox(), {
      id: shop.id,
      settings: parseSettings(shop.settings),
      salesCountry: shop.salesCountry,
    });
    return { intent: "send_waiting", released } as const;
  }
  const result = await connectShop(prisma, connectDeps(), session.shop, {
    pixelId: field("pixelId"),
    accessToken: field("accessToken"),
    testEventCode: field("testEventCode"),
    graphApiVersion: field("graphApiVersion"),
  });
  if (result.ok) {
    await shopChanged(session.shop);
    const updated = await prisma.shop.findUniqueOrThrow({
      where: { id: shop.id },
    });
    const pixel = await syncWebPixel(updated, admin.graphql);
    return {
      intent: "connect",
      result,
      pixelError: pixel.ok ? null : pixel.error,
    } as const;
  }
  return { intent: "connect", result, pixelError: null } as const;
};

export default function ConnectPage() {
  const data = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const busy = useNavigation().state === "submitting";
  const shopify = useAppBridge();
  const formRef = useRef<HTMLFormElement>(null);
  const saved = {
    pixelId: data.pixelId,
    accessToken: "",
    testEventCode: data.testEventCode,
    graphApiVersion: data.graphApiVersion,
  };
  const [values, setValues] = useState(saved);
  const dirty = JSON.stringify(values) !== JSON.stringify(saved);
  const result = actionData?.intent === "connect" ? actionData.result : null;
  const fieldErrors =
    result && !result.ok && "fieldErrors" in result ? result.fieldErrors : {};
  const metaError =
    result && !result.ok && "error" in result ? result.error : null;
  useEffect(() => {
    if (!result?.ok) return;
    setValues((v) => ({ ...v, accessToken: "" }));
    shopify.toast.show("Connection saved");
  }, [result, shopify]);
  const field = (name: keyof typeof values) => ({
    name,
    value: values[name],
    onChange: (value: string) => setValues((v) => ({ ...v, [name]: value })),
    autoComplete: "off",
    error: fieldErrors[name],
  });

  return (
    <Page title="Connect Meta" backAction={{ content: "Home", url: "/app" }}>
      <FormSaveBar
        id="connect-save-bar"
        open={dirty}
        saving={busy}
        onSave={() => formRef.current?.requestSubmit()}
        onDiscard={() => setValues(saved)}
      />
      <Layout>
        <Layout.Section>
          <BlockStack gap="400">
            {result?.ok && (
              <Banner
                tone="success"
                title={`Connected to ${result.pixelName ?? data.pixelId}`}
              >
                <p>Orders are now sent to Meta through the Conversions API.</p>
                {actionData?.intent === "connect" && actionData.pixelError && (
                  <p>
                    The storefront pixel could not be activated yet:{" "}
                    {actionData.pixelError}
                  </p>
                )}
              </Banner>
            )}
            {/* Just connected: the offer to send what Meta still accepts (decisions 79). */}
            {result?.ok && (
              <BackfillCard
                initial={{ connected: true, backfill: data.backfill }}
              />
            )}
            {metaError && (
              <Banner tone="critical" title={metaError.title}>
                <p>{metaError.fix}</p>
                <p>
                  Nothing was saved.
                  {metaError.fbtraceId
                    ? ` Meta reference: ${metaError.fbtraceId}`
                    : ""}
                </p>
              </Banner>
            )}
            {data.pausedReason && !result?.ok && (
              <Banner tone="warning" title="Sending is paused">
                <p>
                  Meta refused the saved connection. Save a working token or
                  pixel ID below: the waiting events are kept and go out as soon
                  as it works.
                </p>
              </Banner>
            )}
            {data.notConnectedSendable > 0 && (
              <Banner
                tone="info"
                title={`${data.notConnectedSendable} orders arrived before you connected`}
              >
                <p>They are still recent enough for Meta to accept them.</p>
                <Form method="post">
                  <input type="hidden" name="intent" value="send_waiting" />
                  <Button submit>Send them now</Button>
                </Form>
              </Banner>
            )}
            {actionData?.intent === "send_waiting" && (
              <Banner
                tone="success"
                title={`${actionData.released} orders queued for Meta`}
              />
            )}
            <Card>
              <Form method="post" ref={formRef}>
                <FormLayout>
                  <Text as="h2" variant="headingMd">
                    Meta dataset and access token
                  </Text>
                  {data.connected && (
                    <Text as="p" tone="subdued">
                      Connected to {data.pixelName ?? data.pixelId} · token{" "}
                      {data.tokenMasked}
                    </Text>
                  )}
                  <TextField
                    label="Dataset (pixel) ID"
                    {...field("pixelId")}
                    helpText="The number under your dataset's name in Meta Events Manager."
                  />
                  <TextField
                    label="Conversions API access token"
                    type="password"
                    {...field("accessToken")}
                    helpText={
                      data.connected
                        ? "Leave blank to keep the saved token. It is stored encrypted and never shown again."
                        : "Stored encrypted; never shown again."
                    }
                  />
                  <TextField
                    label="Test event code (optional)"
                    {...field("testEventCode")}
                    helpText={`From Events Manager › Test events. Events then show there; the code switches itself off after ${data.testCodeTtlHours} hours (Settings › Advanced).`}
                  />
                  <TextField
                    label="Graph API version (optional)"
                    {...field("graphApiVersion")}
                    helpText="Leave blank for the app's default."
                  />
                  <InlineStack align="end">
                    <Button submit variant="primary" loading={busy}>
                      {data.connected ? "Save connection" : "Connect"}
                    </Button>
                  </InlineStack>
                </FormLayout>
              </Form>
            </Card>
          </BlockStack>
        </Layout.Section>
        <Layout.Section variant="oneThird">
          <Card>
            <BlockStack gap="200">
              <Text as="h2" variant="headingMd">
                Getting a token
              </Text>
              <List type="number">
                <List.Item>
                  Open Meta Events Manager and choose your dataset (pixel).
                </List.Item>
                <List.Item>
                  Go to Settings › Conversions API › Generate access token.
                </List.Item>
                <List.Item>
                  Copy the token and the dataset ID into this form.
                </List.Item>
              </List>
              <Text as="p" tone="subdued">
                Agencies: a Business Manager System User token works too — give
                the System User full control of the dataset first.
              </Text>
              <Text as="p" tone="subdued">
                Use one browser pixel only: if the Facebook &amp; Instagram
                sales channel already runs its pixel, turn off &quot;Browser
                pixel&quot; in Settings, or turn off that channel&apos;s data
                sharing, so conversions are not counted twice.
              </Text>
            </BlockStack>
          </Card>
        </Layout.Section>
      </Layout>
    </Page>
  );
}
