import { useEffect, useMemo, useState } from "react";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { useFetcher, useLoaderData } from "@remix-run/react";
import {
  Badge, Banner, BlockStack, Box, Button, Card, Checkbox, ChoiceList, FormLayout, InlineStack, Layout, Page, PageActions, Select, Text,
  TextField,
} from "@shopify/polaris";
import { useAppBridge } from "@shopify/app-bridge-react";
import { authenticate } from "../shopify.server";
import prisma from "../db.server";
import { ensureShop, updateSettings, type FieldErrors } from "../capi/shopConfig";
import { activeTestEventCode, isConnected } from "../capi/outbox";
import { DEFAULT_LDU_STATES, DEFAULT_OPT_IN_REGIONS, parseSettings, type ShopSettings } from "../capi/settings";
import { DEFAULT_GRAPH_VERSION } from "../capi/graphClient";
import { maskToken } from "../capi/tokenCrypto";
import { syncWebPixel } from "../webPixel.server";
import { formatDateTime, formatNumber } from "../components/labels";

// Settings in sections, every option explained in one sentence. Saved through updateSettings (the same validation
// as the ops CLI), then pushed to the storefront pixel.

export const loader = async ({ request }: LoaderFunctionArgs) => {
  const { session } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const settings = parseSettings(shop.settings);
  const testCode = activeTestEventCode(shop, settings);
  return {
    settings,
    connection: {
      connected: isConnected(shop),
      pixelName: shop.pixelName ?? shop.pixelId,
      tokenMasked: shop.tokenCiphertext ? maskToken(shop.tokenLast4) : null,
      graphApiVersion: shop.graphApiVersion,
      defaultGraphApiVersion: DEFAULT_GRAPH_VERSION,
      testEventCode: testCode,
      testEventCodeSetAt: testCode ? (shop.testEventCodeSetAt?.toISOString() ?? null) : null,
    },
  };
};

/** The form as the page edits it: lists and numbers as the merchant typed them. */
type SettingsForm = Omit<ShopSettings, "optInRegions" | "lduStates" | "testEventCodeTtlHours" | "retentionDays"> & {
  optInRegions: string;
  lduStates: string;
  testEventCodeTtlHours: string;
  retentionDays: string;
};

function toForm(s: ShopSettings): SettingsForm {
  return {
    ...s,
    optInRegions: s.optInRegions.join(", "),
    lduStates: s.lduStates.join(", "),
    testEventCodeTtlHours: String(s.testEventCodeTtlHours),
    retentionDays: String(s.retentionDays),
  };
}

const splitList = (text: string) => text.split(/[\s,;]+/).filter(Boolean);
const list = (value: unknown): unknown => (typeof value === "string" ? splitList(value) : value);
// Anything but a plain whole number stays as typed, so the schema answers with its own message for that field.
const whole = (text: unknown) => (typeof text === "string" && /^\s*\d+\s*$/.test(text) ? Number(text) : text);

export type SettingsAction =
  | { ok: true; settings: ShopSettings; redecided: number; pixelError: string | null }
  | { ok: false; fieldErrors: FieldErrors };

export const action = async ({ request }: ActionFunctionArgs): Promise<SettingsAction> => {
  const { session, admin } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const form = await request.formData();
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(String(form.get("settings") ?? ""));
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new Error("not an object");
  } catch {
    return { ok: false, fieldErrors: { form: "The settings could not be read. Reload the page and try again." } };
  }
  const input = {
    ...raw,
    optInRegions: list(raw.optInRegions),
    lduStates: list(raw.lduStates),
    testEventCodeTtlHours: whole(raw.testEventCodeTtlHours),
    retentionDays: whole(raw.retentionDays),
  };
  const result = await updateSettings(prisma, shop, input);
  if (!result.ok) return { ok: false, fieldErrors: result.fieldErrors };
  // The pixel reads some of these (browser pixel, content ids, custom events): push them now.
  const pixel = await syncWebPixel(await prisma.shop.findUniqueOrThrow({ where: { id: shop.id } }), admin.graphql);
  return { ok: true, settings: result.settings, redecided: result.redecided, pixelError: pixel.ok ? null : (pixel.error ?? null) };
};

/** A field's error; list items ("optInRegions.3") show on their list, naming the value. */
function errorFor(errors: FieldErrors, field: keyof SettingsForm, form: SettingsForm): string | undefined {
  if (errors[field]) return errors[field];
  const item = Object.keys(errors).find((k) => k.startsWith(`${field}.`));
  if (!item) return undefined;
  const value = splitList(String(form[field]))[Number(item.split(".")[1])];
  return value ? `“${value}” is not valid. ${errors[item]}` : errors[item];
}

export default function SettingsPage() {
  const d = useLoaderData<typeof loader>();
  const save = useFetcher<SettingsAction>();
  const shopify = useAppBridge();
  const [form, setForm] = useState<SettingsForm>(() => toForm(d.settings));
  const saved = useMemo(() => toForm(d.settings), [d.settings]);
  const dirty = JSON.stringify(form) !== JSON.stringify(saved);
  const result = save.data ?? null;
  const errors: FieldErrors = result && !result.ok ? result.fieldErrors : {};
  const saving = save.state !== "idle";

  useEffect(() => {
    if (result?.ok) {
      setForm(toForm(result.settings));
      shopify.toast.show("Settings saved");
    }
  }, [result, shopify]);

  const set = <K extends keyof SettingsForm>(key: K) => (value: SettingsForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const setSource = (key: keyof ShopSettings["sources"]) => (value: boolean) => setForm((f) => ({ ...f, sources: { ...f.sources, [key]: value } }));
  const setCustom = (key: keyof ShopSettings["customEvents"]) => (value: boolean) => setForm((f) => ({ ...f, customEvents: { ...f.customEvents, [key]: value } }));
  const submit = () => save.submit({ settings: JSON.stringify(form) }, { method: "post" });
  const err = (field: keyof SettingsForm) => errorFor(errors, field, form);
  const errorCount = Object.keys(errors).length;
  const c = d.connection;

  return (
    <Page
      title="Settings"
      subtitle="What the app sends to Meta, and when it must not."
      backAction={{ content: "Home", url: "/app" }}
      primaryAction={{ content: "Save", onAction: submit, loading: saving, disabled: !dirty && !errorCount }}
    >
      <BlockStack gap="500">
        {errorCount > 0 && (
          <Banner tone="critical" title={errors.form ?? `Nothing was saved: ${errorCount === 1 ? "one field needs" : `${errorCount} fields need`} a fix`}>
            <p>{errors.form ? "" : "The fields to fix are marked below."}</p>
          </Banner>
        )}
        {result?.ok && (result.redecided > 0 || result.pixelError) && (
          <Banner tone={result.pixelError ? "warning" : "success"} title="Settings saved">
            <BlockStack gap="100">
              {result.redecided > 0 && <p>{formatNumber(result.redecided)} events not yet sent were checked again against the new consent rules.</p>}
              {result.pixelError && <p>The storefront pixel could not be updated yet ({result.pixelError}). Use “Reconnect pixel” on the Home page to try again.</p>}
            </BlockStack>
          </Banner>
        )}
        <Layout>
          <Layout.AnnotatedSection id="connection" title="Connection" description="The Meta dataset (pixel) and access token the app sends to.">
            <Card>
              <InlineStack align="space-between" blockAlign="center" gap="400">
                <BlockStack gap="100">
                  <InlineStack gap="200" blockAlign="center">
                    <Text as="p" fontWeight="semibold">{c.connected ? c.pixelName : "Not connected to Meta"}</Text>
                    {c.connected ? <Badge tone="success">Connected</Badge> : <Badge tone="attention">Not connected</Badge>}
                  </InlineStack>
                  {c.tokenMasked && <Text as="p" tone="subdued">Access token {c.tokenMasked}</Text>}
                </BlockStack>
                <Button url="/app/connect">{c.connected ? "Manage connection" : "Connect Meta"}</Button>
              </InlineStack>
            </Card>
          </Layout.AnnotatedSection>

          <Layout.AnnotatedSection id="events" title="Events" description="Which orders become Purchase events, and what the storefront sends.">
            <Card>
              <FormLayout>
                <ChoiceList
                  title="Send the Purchase when the order is"
                  selected={[form.purchaseTrigger]}
                  onChange={([v]) => set("purchaseTrigger")(v as SettingsForm["purchaseTrigger"])}
                  choices={[
                    { label: "Paid (recommended)", value: "paid", helpText: "Only orders that were paid count as purchases, as in your sales reports." },
                    { label: "Created", value: "created", helpText: "Every order counts as soon as it is placed, including orders paid later (bank transfer, cash on delivery)." },
                  ]}
                />
                <BlockStack gap="100">
                  <Text as="p">Order sources</Text>
                  <Checkbox label="Online store" checked={form.sources.online} onChange={setSource("online")} helpText="Orders placed through your online store's checkout." />
                  <Checkbox label="Draft orders" checked={form.sources.draft} onChange={setSource("draft")} helpText="Orders you create in the admin that the customer pays through an invoice." />
                  <Checkbox label="Point of Sale" checked={form.sources.pos} onChange={setSource("pos")} helpText="In-person sales from Shopify POS, sent as in-store events." />
                  <Checkbox label="Subscription renewals" checked={form.sources.subscription} onChange={setSource("subscription")} helpText="Automatic recurring orders from subscription apps; off by default because no ad caused them." />
                </BlockStack>
                <BlockStack gap="200">
                  <Checkbox
                    label="Browser pixel"
                    checked={form.browserPixel}
                    onChange={set("browserPixel")}
                    helpText="The storefront also sends each event straight from the shopper's browser, with the same event id, so Meta keeps one of the two."
                  />
                  {form.browserPixel && (
                    <Banner tone="warning">
                      <p>
                        If the Facebook &amp; Instagram sales channel also shares data from your storefront, its pixel uses its own event ids and Meta counts
                        conversions twice. Keep one browser pixel: turn this off, or turn off that channel's data sharing.
                      </p>
                    </Banner>
                  )}
                </BlockStack>
                <BlockStack gap="100">
                  <Text as="p">Custom events</Text>
                  <Checkbox label="Collection views (ViewCollection)" checked={form.customEvents.collectionViewed} onChange={setCustom("collectionViewed")} helpText="A custom event each time a shopper opens a collection page." />
                  <Checkbox label="Cart views (ViewCart)" checked={form.customEvents.cartViewed} onChange={setCustom("cartViewed")} helpText="A custom event each time a shopper opens the cart." />
                </BlockStack>
              </FormLayout>
            </Card>
          </Layout.AnnotatedSection>

          <Layout.AnnotatedSection id="value" title="Purchase value & catalog ids" description="The money Meta reports as revenue, and the product ids it matches to your catalog.">
            <Card>
              <FormLayout>
                <ChoiceList
                  title="Purchase value"
                  selected={[form.valueMode]}
                  onChange={([v]) => set("valueMode")(v as SettingsForm["valueMode"])}
                  choices={[
                    { label: "Order total", value: "total", helpText: "What the customer paid, with shipping and taxes." },
                    { label: "Subtotal", value: "subtotal", helpText: "Products after discounts, without shipping and taxes." },
                  ]}
                />
                <Select
                  label="Content id format"
                  options={[
                    { label: "Variant id", value: "variant" },
                    { label: "Product id", value: "product" },
                    { label: "SKU", value: "sku" },
                    { label: "Shopify catalog id (shopify_US_product_variant)", value: "shopify_catalog" },
                  ]}
                  value={form.contentIdFormat}
                  onChange={(v) => set("contentIdFormat")(v as SettingsForm["contentIdFormat"])}
                  helpText="Use the ids your Meta catalog uses, so ads can show the products people bought; the Facebook & Instagram channel's catalog uses Shopify catalog ids."
                  error={err("contentIdFormat")}
                />
                <TextField
                  label="Catalog country"
                  value={form.catalogCountry}
                  onChange={set("catalogCountry")}
                  autoComplete="off"
                  maxLength={10}
                  disabled={form.contentIdFormat !== "shopify_catalog"}
                  helpText="The country code inside Shopify catalog ids, such as US."
                  error={err("catalogCountry")}
                />
              </FormLayout>
            </Card>
          </Layout.AnnotatedSection>

          <Layout.AnnotatedSection id="consent" title="Consent & privacy" description="Nothing is sent that these rules and the shopper's choice do not allow. A shopper who declined tracking is never sent, whatever the policy.">
            <Card>
              <FormLayout>
                <ChoiceList
                  title="Consent policy"
                  selected={[form.consentPolicy]}
                  onChange={([v]) => set("consentPolicy")(v as SettingsForm["consentPolicy"])}
                  choices={[
                    { label: "Follow Shopify consent and region rules (recommended)", value: "shopify_rules", helpText: "Send what the shopper's cookie choice allows; without a choice, send except in the opt-in regions below." },
                    { label: "Strict: only send with an explicit marketing consent", value: "strict", helpText: "Send only events from shoppers who said yes to marketing cookies." },
                    { label: "Always send (I have another legal basis)", value: "always", helpText: "Send even without a recorded choice; a shopper who said no is still never sent." },
                  ]}
                />
                <TextField
                  label="Opt-in regions"
                  value={form.optInRegions}
                  onChange={set("optInRegions")}
                  autoComplete="off"
                  multiline={2}
                  helpText={`Country codes where tracking needs an opt-in, so an order without a recorded choice is not sent (default: EEA, UK and Switzerland, ${DEFAULT_OPT_IN_REGIONS.length} countries).`}
                  error={err("optInRegions")}
                />
                <TextField
                  label="Limited Data Use states"
                  value={form.lduStates}
                  onChange={set("lduStates")}
                  autoComplete="off"
                  helpText={`US state codes whose privacy laws Meta's Limited Data Use covers; their orders without a choice are sent with that flag (default: ${DEFAULT_LDU_STATES.join(", ")}).`}
                  error={err("lduStates")}
                />
                <TextField
                  label="Keep delivered events for"
                  type="number"
                  suffix="days"
                  value={form.retentionDays}
                  onChange={set("retentionDays")}
                  autoComplete="off"
                  helpText="The event log keeps ids, status and Meta's answer this long, then deletes them."
                  error={err("retentionDays")}
                />
              </FormLayout>
            </Card>
          </Layout.AnnotatedSection>

          <Layout.AnnotatedSection id="advanced" title="Advanced" description="For checking the setup in Meta Events Manager.">
            <Card>
              <FormLayout>
                <TextField
                  label="Test mode switches itself off after"
                  type="number"
                  suffix="hours"
                  value={form.testEventCodeTtlHours}
                  onChange={set("testEventCodeTtlHours")}
                  autoComplete="off"
                  helpText="A test event code stops applying after this time, so test mode cannot leak into production."
                  error={err("testEventCodeTtlHours")}
                />
                <Box>
                  <BlockStack gap="100">
                    <Text as="p">Test event code</Text>
                    <Text as="p" tone="subdued">
                      {c.testEventCode
                        ? `${c.testEventCode} is active${c.testEventCodeSetAt ? ` (set ${formatDateTime(c.testEventCodeSetAt)})` : ""}.`
                        : "None: events go to Meta as live events."}{" "}
                      Set it on the Connect page.
                    </Text>
                  </BlockStack>
                </Box>
                <Box>
                  <BlockStack gap="100">
                    <Text as="p">Graph API version</Text>
                    <Text as="p" tone="subdued">
                      {c.graphApiVersion ? `${c.graphApiVersion} (set on the Connect page)` : `${c.defaultGraphApiVersion}, the app's default. Change it on the Connect page only if Meta support asks.`}
                    </Text>
                  </BlockStack>
                </Box>
              </FormLayout>
            </Card>
          </Layout.AnnotatedSection>
        </Layout>
        <PageActions
          primaryAction={{ content: "Save", onAction: submit, loading: saving, disabled: !dirty && !errorCount }}
          secondaryActions={[{ content: "Discard changes", onAction: () => setForm(saved), disabled: !dirty }]}
        />
      </BlockStack>
    </Page>
  );
}
