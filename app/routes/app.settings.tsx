import { useEffect, useMemo, useState } from "react";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import { useFetcher, useLoaderData } from "@remix-run/react";
import {
  Badge,
  Banner,
  BlockStack,
  Box,
  Button,
  Card,
  Checkbox,
  ChoiceList,
  FormLayout,
  InlineStack,
  Layout,
  Page,
  PageActions,
  Select,
  Text,
  TextField,
} from "@shopify/polaris";
import { useAppBridge } from "@shopify/app-bridge-react";
import { FormSaveBar } from "../components/FormSaveBar";
import { authenticate } from "../shopify.server";
import prisma, { outbox } from "../db.server";
import {
  ensureShop,
  updateSettings,
  type FieldErrors,
  maskToken,
} from "../core/shops";
import { activeTestEventCode, isConnected } from "../core/outbox";
import {
  DEFAULT_LDU_STATES,
  DEFAULT_OPT_IN_REGIONS,
  LDU_SOURCE_DATE,
  LDU_SOURCE_URL,
  parseSettings,
  type ShopSettings,
} from "../core/reference";
import { DEFAULT_GRAPH_VERSION } from "../core/meta";
import { syncWebPixel } from "../webPixel.server";
import { shopChanged } from "../http/shopCache.server";
import { formatDateTime, formatNumber } from "../components/labels";
import { pageTitle } from "../components/title";

// Settings in sections, every option explained in one sentence. Saved through updateSettings (the same validation
// as the ops CLI), then pushed to the storefront pixel.

export const meta = pageTitle("Settings");

export const loader = async ({ request }: LoaderFunctionArgs) => {
  const { session } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const settings = parseSettings(shop.settings);
  const testCode = activeTestEventCode(shop, settings);
  return {
    settings,
    // For the help texts: the component imports no values from the core, which would bring zod into the browser.
    defaults: {
      optInRegionCount: DEFAULT_OPT_IN_REGIONS.length,
      lduStates: DEFAULT_LDU_STATES.join(", "),
      lduSource: `Meta's list of ${LDU_SOURCE_DATE}, ${LDU_SOURCE_URL}`,
    },
    connection: {
      connected: isConnected(shop),
      pixelName: shop.pixelName ?? shop.pixelId,
      tokenMasked: shop.tokenCiphertext ? maskToken(shop.tokenLast4) : null,
      graphApiVersion: shop.graphApiVersion,
      defaultGraphApiVersion: DEFAULT_GRAPH_VERSION,
      testEventCode: testCode,
      testEventCodeSetAt: testCode
        ? (shop.testEventCodeSetAt?.toISOString() ?? null)
        : null,
    },
  };
};

/** The form as the page edits it: lists and numbers as the merchant typed them. */
type SettingsForm = Omit<
  ShopSettings,
  "optInRegions" | "lduStates" | "testEventCodeTtlHours" | "retentionDays"
> & {
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
const list = (value: unknown): unknown =>
  typeof value === "string" ? splitList(value) : value;
// Anything but a plain whole number stays as typed, so the schema answers with its own message for that field.
const whole = (text: unknown) =>
  typeof text === "string" && /^\s*\d+\s*$/.test(text) ? Number(text) : text;

export type SettingsAction =
  | {
      ok: true;
      settings: ShopSettings;
      redecided: number;
      pixelError: string | null;
    }
  | { ok: false; fieldErrors: FieldErrors };

export const action = async ({
  request,
}: ActionFunctionArgs): Promise<SettingsAction> => {
  const { session, admin } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const form = await request.formData();
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(String(form.get("settings") ?? ""));
    if (!raw || typeof raw !== "object" || Array.isArray(raw))
      throw new Error("not an object");
  } catch {
    return {
      ok: false,
      fieldErrors: {
        form: "The settings could not be read. Reload the page and try again.",
      },
    };
  }
  const input = {
    ...raw,
    optInRegions: list(raw.optInRegions),
    lduStates: list(raw.lduStates),
    testEventCodeTtlHours: whole(raw.testEventCodeTtlHours),
    retentionDays: whole(raw.retentionDays),
  };
  const result = await updateSettings(prisma, outbox(), shop, input);
  if (!result.ok) return { ok: false, fieldErrors: result.fieldErrors };
  await shopChanged(session.shop);
  // The pixel reads some of these (browser pixel, content ids, custom events): push them now.
  const pixel = await syncWebPixel(
    await prisma.shop.findUniqueOrThrow({ where: { id: shop.id } }),
    admin.graphql,
  );
  return {
    ok: true,
    settings: result.settings,
    redecided: result.redecided,
    pixelError: pixel.ok ? null : (pixel.error ?? null),
  };
};

/** A field's error; list items ("optInRegions.3") show on their list, naming the value. */
function errorFor(
  errors: FieldErrors,
  field: keyof SettingsForm,
  form: SettingsForm,
): string | undefined {
  if (errors[field]) return errors[field];
  const item = Object.keys(errors).find((k) => k.startsWith(`${field}.`));
  if (!item) return undefined;
  const value = splitList(String(form[field]))[Number(item.split(".")[1])];
  return value ? `“${value}” is not valid. ${errors[item]}` : errors[item];
}

/** The form's fields a TextField edits, and those a ChoiceList picks from. */
type TextKey =
  | "catalogCountry"
  | "optInRegions"
  | "lduStates"
  | "retentionDays"
  | "testEventCodeTtlHours";
type ChoiceKey = "purchaseTrigger" | "valueMode" | "consentPolicy";

/** A titled group of on/off options, each with its label and one sentence of help. */
function CheckboxGroup<K extends string>({
  title,
  checked,
  onChange,
  boxes,
}: {
  title: string;
  checked: Record<K, boolean>;
  onChange: (key: K) => (value: boolean) => void;
  boxes: Record<K, [label: string, helpText: string]>;
}) {
  return (
    <BlockStack gap="100">
      <Text as="p">{title}</Text>
      {(Object.entries(boxes) as [K, [string, string]][]).map(
        ([key, [label, helpText]]) => (
          <Checkbox
            key={key}
            label={label}
            checked={checked[key]}
            onChange={onChange(key)}
            helpText={helpText}
          />
        ),
      )}
    </BlockStack>
  );
}

/** A section of the form: its title and what it is for beside, its fields in a card. */
function FormSection({
  id,
  title,
  description,
  children,
}: {
  id: string;
  title: string;
  description: string;
  children: React.ReactNode;
}) {
  return (
    <Layout.AnnotatedSection id={id} title={title} description={description}>
      <Card>
        <FormLayout>{children}</FormLayout>
      </Card>
    </Layout.AnnotatedSection>
  );
}

/** A setting shown but changed elsewhere. */
function Note({
  label,
  children,
}: {
  label: string;
  children: React.ReactNode;
}) {
  return (
    <Box>
      <BlockStack gap="100">
        <Text as="p">{label}</Text>
        <Text as="p" tone="subdued">
          {children}
        </Text>
      </BlockStack>
    </Box>
  );
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

  const set =
    <K extends keyof SettingsForm>(key: K) =>
    (value: SettingsForm[K]) =>
      setForm((f) => ({ ...f, [key]: value }));
  const setSource = (key: keyof ShopSettings["sources"]) => (value: boolean) =>
    setForm((f) => ({ ...f, sources: { ...f.sources, [key]: value } }));
  const setCustom =
    (key: keyof ShopSettings["customEvents"]) => (value: boolean) =>
      setForm((f) => ({
        ...f,
        customEvents: { ...f.customEvents, [key]: value },
      }));
  const submit = () =>
    save.submit({ settings: JSON.stringify(form) }, { method: "post" });
  const err = (field: keyof SettingsForm) => errorFor(errors, field, form);
  const text = (key: TextKey) => ({
    value: form[key],
    onChange: set(key),
    autoComplete: "off",
    error: err(key),
  });
  const choice = <K extends ChoiceKey>(key: K) => ({
    selected: [form[key]],
    onChange: ([v]: string[]) => set(key)(v as SettingsForm[K]),
  });
  const errorCount = Object.keys(errors).length;
  const saveAction = {
    content: "Save",
    onAction: submit,
    loading: saving,
    disabled: !dirty && !errorCount,
  };
  const c = d.connection;

  return (
    <Page
      title="Settings"
      subtitle="What the app sends to Meta, and when it must not."
      backAction={{ content: "Home", url: "/app" }}
      primaryAction={saveAction}
    >
      {/* App Bridge's contextual save bar, in the admin's top bar while the form has unsaved changes. */}
      <FormSaveBar
        id="settings-save-bar"
        open={dirty}
        saving={saving}
        onSave={submit}
        onDiscard={() => setForm(saved)}
      />
      <BlockStack gap="500">
        {errorCount > 0 && (
          <Banner
            tone="critical"
            title={
              errors.form ??
              `Nothing was saved: ${errorCount === 1 ? "one field needs" : `${errorCount} fields need`} a fix`
            }
          >
            <p>{errors.form ? "" : "The fields to fix are marked below."}</p>
          </Banner>
        )}
        {result?.ok && (result.redecided > 0 || result.pixelError) && (
          <Banner
            tone={result.pixelError ? "warning" : "success"}
            title="Settings saved"
          >
            <BlockStack gap="100">
              {result.redecided > 0 && (
                <p>
                  {formatNumber(result.redecided)} events not yet sent were
                  checked again against the new consent rules.
                </p>
              )}
              {result.pixelError && (
                <p>
                  The storefront pixel could not be updated yet (
                  {result.pixelError}). Use “Reconnect pixel” on the Home page
                  to try again.
                </p>
              )}
            </BlockStack>
          </Banner>
        )}
        <Layout>
          <Layout.AnnotatedSection
            id="connection"
            title="Connection"
            description="The Meta dataset (pixel) and access token the app sends to."
          >
            <Card>
              <InlineStack align="space-between" blockAlign="center" gap="400">
                <BlockStack gap="100">
                  <InlineStack gap="200" blockAlign="center">
                    <Text as="p" fontWeight="semibold">
                      {c.connected ? c.pixelName : "Not connected to Meta"}
                    </Text>
                    {c.connected ? (
                      <Badge tone="success">Connected</Badge>
                    ) : (
                      <Badge tone="attention">Not connected</Badge>
                    )}
                  </InlineStack>
                  {c.tokenMasked && (
                    <Text as="p" tone="subdued">
                      Access token {c.tokenMasked}
                    </Text>
                  )}
                </BlockStack>
                <Button url="/app/connect">
                  {c.connected ? "Manage connection" : "Connect Meta"}
                </Button>
              </InlineStack>
            </Card>
          </Layout.AnnotatedSection>

          <FormSection
            id="events"
            title="Events"
            description="Which orders become Purchase events, and what the storefront sends."
          >
            <ChoiceList
              title="Send the Purchase when the order is"
              {...choice("purchaseTrigger")}
              choices={[
                {
                  label: "Paid (recommended)",
                  value: "paid",
                  helpText:
                    "Only orders that were paid count as purchases, as in your sales reports.",
                },
                {
                  label: "Created",
                  value: "created",
                  helpText:
                    "Every order counts as soon as it is placed, including orders paid later (bank transfer, cash on delivery).",
                },
              ]}
            />
            <CheckboxGroup
              title="Order sources"
              checked={form.sources}
              onChange={setSource}
              boxes={{
                online: [
                  "Online store",
                  "Orders placed through your online store's checkout.",
                ],
                draft: [
                  "Draft orders",
                  "Orders you create in the admin that the customer pays through an invoice.",
                ],
                pos: [
                  "Point of Sale",
                  "In-person sales from Shopify POS, sent as in-store events.",
                ],
                subscription: [
                  "Subscription renewals",
                  "Automatic recurring orders from subscription apps; off by default because no ad caused them.",
                ],
              }}
            />
            <Checkbox
              label="Subscribe event for a subscription's first order"
              checked={form.subscribeEvent}
              onChange={set("subscribeEvent")}
              helpText="Also sends Meta's Subscribe event (the value of the subscribed products) with the first order of a subscription. The shopper's consent decides it as it does the purchase."
            />
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
                    If the Facebook &amp; Instagram sales channel also shares
                    data from your storefront, its pixel uses its own event ids
                    and Meta counts conversions twice. Keep one browser pixel:
                    turn this off, or turn off that channel&apos;s data sharing.
                  </p>
                </Banner>
              )}
            </BlockStack>
            <CheckboxGroup
              title="Custom events"
              checked={form.customEvents}
              onChange={setCustom}
              boxes={{
                collectionViewed: [
                  "Collection views (ViewCollection)",
                  "A custom event each time a shopper opens a collection page.",
                ],
                cartViewed: [
                  "Cart views (ViewCart)",
                  "A custom event each time a shopper opens the cart.",
                ],
              }}
            />
          </FormSection>

          <FormSection
            id="value"
            title="Purchase value & catalog ids"
            description="The money Meta reports as revenue, and the product ids it matches to your catalog."
          >
            <ChoiceList
              title="Purchase value"
              {...choice("valueMode")}
              choices={[
                {
                  label: "Order total",
                  value: "total",
                  helpText: "What the customer paid, with shipping and taxes.",
                },
                {
                  label: "Subtotal",
                  value: "subtotal",
                  helpText:
                    "Products after discounts, without shipping and taxes.",
                },
              ]}
            />
            <Select
              label="Content id format"
              options={[
                { label: "Variant id", value: "variant" },
                { label: "Product id", value: "product" },
                { label: "SKU", value: "sku" },
                {
                  label: "Shopify catalog id (shopify_US_product_variant)",
                  value: "shopify_catalog",
                },
              ]}
              value={form.contentIdFormat}
              onChange={(v) =>
                set("contentIdFormat")(v as SettingsForm["contentIdFormat"])
              }
              helpText="Use the ids your Meta catalog uses, so ads can show the products people bought; the Facebook & Instagram channel's catalog uses Shopify catalog ids."
              error={err("contentIdFormat")}
            />
            <TextField
              label="Catalog country"
              {...text("catalogCountry")}
              maxLength={10}
              disabled={form.contentIdFormat !== "shopify_catalog"}
              helpText="The country code inside Shopify catalog ids, such as US."
            />
          </FormSection>

          <FormSection
            id="consent"
            title="Consent & privacy"
            description="Nothing is sent that these rules and the shopper's choice do not allow. A shopper who declined tracking is never sent, whatever the policy."
          >
            <ChoiceList
              title="Consent policy"
              {...choice("consentPolicy")}
              choices={[
                {
                  label:
                    "Follow Shopify consent and region rules (recommended)",
                  value: "shopify_rules",
                  helpText:
                    "Send what the shopper's cookie choice allows; without a choice, send except in the opt-in regions below.",
                },
                {
                  label: "Strict: only send with an explicit marketing consent",
                  value: "strict",
                  helpText:
                    "Send only events from shoppers who said yes to marketing cookies.",
                },
                {
                  label: "Always send (I have another legal basis)",
                  value: "always",
                  helpText:
                    "Send even without a recorded choice; a shopper who said no is still never sent.",
                },
              ]}
            />
            <TextField
              label="Opt-in regions"
              {...text("optInRegions")}
              multiline={2}
              helpText={`Country codes where tracking needs an opt-in, so an order without a recorded choice is not sent (default: EEA, UK and Switzerland, ${d.defaults.optInRegionCount} countries).`}
            />
            <TextField
              label="Limited Data Use states"
              {...text("lduStates")}
              helpText={`US state codes whose privacy laws Meta's Limited Data Use covers; their orders without a choice are sent with that flag (default: ${d.defaults.lduStates}, from ${d.defaults.lduSource}).`}
            />
            <TextField
              label="Keep delivered events for"
              type="number"
              suffix="days"
              {...text("retentionDays")}
              helpText="The event log keeps ids, status and Meta's answer this long, then deletes them."
            />
          </FormSection>

          <FormSection
            id="advanced"
            title="Advanced"
            description="For checking the setup in Meta Events Manager."
          >
            <TextField
              label="Test mode switches itself off after"
              type="number"
              suffix="hours"
              {...text("testEventCodeTtlHours")}
              helpText="A test event code stops applying after this time, so test mode cannot leak into production."
            />
            <Note label="Test event code">
              {c.testEventCode
                ? `${c.testEventCode} is active${c.testEventCodeSetAt ? ` (set ${formatDateTime(c.testEventCodeSetAt)})` : ""}.`
                : "None: events go to Meta as live events."}{" "}
              Set it on the Connect page.
            </Note>
            <Note label="Graph API version">
              {c.graphApiVersion
                ? `${c.graphApiVersion} (set on the Connect page)`
                : `${c.defaultGraphApiVersion}, the app's default. Change it on the Connect page only if Meta support asks.`}
            </Note>
          </FormSection>
        </Layout>
        <PageActions
          primaryAction={saveAction}
          secondaryActions={[
            {
              content: "Discard changes",
              onAction: () => setForm(saved),
              disabled: !dirty,
            },
          ]}
        />
      </BlockStack>
    </Page>
  );
}
