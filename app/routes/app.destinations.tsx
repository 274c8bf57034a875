import { useEffect, useRef, useState } from "react";
import type { ActionFunctionArgs, LoaderFunctionArgs } from "@remix-run/node";
import {
  Form,
  Link as RemixLink,
  useActionData,
  useLoaderData,
  useNavigation,
  useSubmit,
} from "@remix-run/react";
import {
  Badge,
  Banner,
  BlockStack,
  Button,
  Card,
  FormLayout,
  InlineStack,
  Layout,
  Page,
  Select,
  Text,
  TextField,
} from "@shopify/polaris";
import { useAppBridge } from "@shopify/app-bridge-react";
import { FormSaveBar } from "../components/FormSaveBar";
import { authenticate } from "../shopify.server";
import prisma, { outbox } from "../db.server";
import { checkDeps, connectDeps, wakeDispatcher } from "../runtime.server";
import {
  ensureShop,
  maskToken,
  removeDestination,
  saveDestination,
  saveOwnRule,
  sendTargets,
  testTarget,
} from "../core/shops";
import { backlogByDataset } from "../core/insights";
import { explainPause, fixFor } from "../core/delivery";
import {
  checkNow,
  readDatasetChecks,
  type DatasetCheckView,
} from "../core/checks";
import { shopChanged } from "../http/shopCache.server";
import { syncWebPixel } from "../webPixel.server";
import {
  eventLabel,
  formatDateTime,
  formatNumber,
  ruleText,
  NEW_TOKEN_FIX,
  TOKEN_WARNING,
  tokenStatusText,
} from "../components/labels";
import { Labelled } from "../components/Section";
import { pageTitle } from "../components/title";

// The Meta datasets a shop sends to (decisions 130-135): its own (Connect Meta) and further destinations, each with
// its routing rule, health and Meta's daily check (decisions 160); add, edit, test, check, remove. The core
// validates; this page only maps the form.

export const meta = pageTitle("Destinations");

/** A dataset's last check as the page shows it (no token, no Meta counts beyond the flags). */
function checkView(c: DatasetCheckView | undefined, own: boolean) {
  if (!c) return null;
  return {
    checkedAt: c.checkedAt.toISOString(),
    tokenStatus: c.tokenStatus,
    tokenExpiresAt: c.tokenExpiresAt?.toISOString() ?? null,
    tokenDetail: c.tokenDetail,
    tokenFix: fixFor(NEW_TOKEN_FIX, own),
    quality: c.quality.map((q) => ({
      eventName: q.eventName,
      matchScore: q.matchScore,
    })),
    qualityError: c.qualityError,
    senders: c.senders,
    sendersError: c.sendersError,
  };
}

export const loader = async ({ request }: LoaderFunctionArgs) => {
  const { session } = await authenticate.admin(request);
  const shop = await ensureShop(prisma, session.shop);
  const [targets, backlog, checks] = await Promise.all([
    sendTargets(prisma, shop),
    backlogByDataset(prisma, shop.id),
    readDatasetChecks(prisma, shop.id),
  ]);
  const now = Date.now();
  // Tokens never leave the server: the page gets their last four characters only.
  return {
    connected: Boolean(shop.pixelId && shop.tokenCiphertext),
    destinations: targets.map((t) => ({
      id: t.own ? "own" : t.id,
      // The event log's dataset filter.
      logId: t.id,
      own: t.own,
      pixelId: t.pixelId ?? "",
      pixelName: t.pixelName,
      tokenMasked: t.tokenCiphertext ? maskToken(t.tokenLast4) : null,
      testEventCode: t.testEventCode ?? "",
      graphApiVersion: t.graphApiVersion ?? "",
      rule: t.rule,
      ruleText: ruleText(t.rule),
      pause: t.pausedReason ? explainPause(t.pausedReason, t.own) : null,
      backingOffUntil:
        t.sendNotBefore && t.sendNotBefore.getTime() > now
          ? t.sendNotBefore.toISOString()
          : null,
      lastDeliveryAt: t.lastDeliveryAt?.toISOString() ?? null,
      backlog: backlog.get(t.id) ?? 0,
      check: checkView(t.pixelId ? checks.get(t.pixelId) : undefined, t.own),
    })),
  };
};

type Rule = { kind: string; values?: string[]; countries?: string[] };

/** The form's rule fields as the rule object the core's schema checks (decisions 134). */
function ruleOf(field: (name: string) => string): Rule {
  const list = (name: string) =>
    field(name)
      .split(/[\s,]+/)
      .filter(Boolean);
  const kind = field("ruleKind") || "all";
  if (kind === "all") return { kind };
  if (kind === "market")
    return {
      kind,
      values: list("ruleValues"),
      countries: list("ruleCountries"),
    };
  return { kind, values: list("ruleValues") };
}

export const action = async ({ request }: ActionFunctionArgs) => {
  const { session, admin } = await authenticate.admin(request);
  const form = await request.formData();
  const field = (name: string) => String(form.get(name) ?? "");
  const shop = await ensureShop(prisma, session.shop);
  const intent = field("intent");
  const id = field("id");
  const targetId = id === "own" ? shop.id : id;

  // The web pixel's browser copy follows the datasets and their rules (decisions 136).
  const changed = async () => {
    await shopChanged(session.shop);
    await syncWebPixel(
      await prisma.shop.findUniqueOrThrow({ where: { id: shop.id } }),
      admin.graphql,
    );
  };
  if (intent === "remove") {
    const removed = await removeDestination(prisma, outbox(), shop.id, id);
    if (removed) await changed();
    return { intent, ok: removed } as const;
  }
  if (intent === "check") {
    const check = await checkNow(checkDeps(), shop.id, targetId);
    return check
      ? ({ intent, ok: true } as const)
      : ({ intent, ok: false, error: "No such destination." } as const);
  }
  if (intent === "test") {
    const targets = await sendTargets(prisma, shop);
    const target = targets.find((t) => t.id === targetId);
    if (!target)
      return { intent, ok: false, error: "No such destination." } as const;
    const tested = await testTarget(connectDeps(), target);
    return tested.ok
      ? ({ intent, ok: true, pixelName: tested.pixelName } as const)
      : ({
          intent,
          ok: false,
          error: `${tested.title} ${tested.fix}`,
        } as const);
  }
  const rule = ruleOf(field);
  const result =
    id === "own"
      ? await saveOwnRule(prisma, shop.id, rule)
      : await saveDestination(prisma, connectDeps(), shop, id || null, {
          pixelId: field("pixelId"),
          accessToken: field("accessToken"),
          testEventCode: field("testEventCode"),
          graphApiVersion: field("graphApiVersion"),
          rule: rule as never,
        });
  if (result.ok) {
    await changed();
    // A resumed destination's kept events may go at once.
    wakeDispatcher();
  }
  return { intent: "save", result } as const;
};

type LoaderData = ReturnType<typeof useLoaderData<typeof loader>>;
type Destination = LoaderData["destinations"][number];

const RULE_KINDS = [
  { label: "All orders and events", value: "all" },
  { label: "Shopify Markets", value: "market" },
  { label: "Countries", value: "country" },
  { label: "Currencies", value: "currency" },
  { label: "Sales channels", value: "channel" },
];

/** The schema's error of a rule's list ("rule.values.0", "rule.countries"), for the field that holds it. */
function ruleError(
  errors: Record<string, string>,
  countries: boolean,
): string | undefined {
  const key = Object.keys(errors).find(
    (k) =>
      (k === "rule" || k.startsWith("rule.")) &&
      k.startsWith("rule.countries") === countries,
  );
  return key && errors[key];
}

function formValues(d: Destination | null) {
  const rule = (d?.rule ?? { kind: "all" }) as Rule;
  return {
    pixelId: d?.pixelId ?? "",
    accessToken: "",
    testEventCode: d?.testEventCode ?? "",
    graphApiVersion: d?.graphApiVersion ?? "",
    ruleKind: rule.kind,
    ruleValues: (rule.values ?? []).join(", "),
    ruleCountries: (rule.countries ?? []).join(", "),
  };
}

export default function DestinationsPage() {
  const data = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const busy = useNavigation().state === "submitting";
  const submit = useSubmit();
  const shopify = useAppBridge();
  const formRef = useRef<HTMLFormElement>(null);
  // The form edits one destination ("own", an id), adds one (""), or is closed (null).
  const [editing, setEditing] = useState<string | null>(null);
  const current = data.destinations.find((d) => d.id === editing) ?? null;
  const saved = formValues(current);
  const [values, setValues] = useState(saved);
  const dirty =
    editing !== null && JSON.stringify(values) !== JSON.stringify(saved);
  const result = actionData?.intent === "save" ? actionData.result : null;
  const fieldErrors =
    result && !result.ok && "fieldErrors" in result ? result.fieldErrors : {};
  const metaError =
    result && !result.ok && "error" in result ? result.error : null;

  useEffect(() => {
    if (!actionData) return;
    if (actionData.intent === "save" && actionData.result.ok) {
      setEditing(null);
      shopify.toast.show("Destination saved");
    } else if (actionData.intent === "remove" && actionData.ok)
      shopify.toast.show("Destination removed");
    else if (actionData.intent === "check")
      shopify.toast.show(
        actionData.ok ? "Checked with Meta" : "No such destination",
        { isError: !actionData.ok },
      );
    else if (actionData.intent === "test")
      shopify.toast.show(
        actionData.ok
          ? `Meta accepts this token for ${actionData.pixelName ?? "the dataset"}`
          : "Meta refused the connection",
        { isError: !actionData.ok },
      );
  }, [actionData, shopify]);

  const open = (d: Destination | null) => {
    setEditing(d ? d.id : "");
    setValues(formValues(d));
  };
  const field = (name: keyof typeof values) => ({
    name,
    value: values[name],
    onChange: (value: string) => setValues((v) => ({ ...v, [name]: value })),
    autoComplete: "off",
    error:
      fieldErrors[name] ??
      (name === "ruleValues" || name === "ruleCountries"
        ? ruleError(fieldErrors, name === "ruleCountries")
        : undefined),
  });
  const act = (intent: "test" | "check" | "remove", id: string) =>
    submit({ intent, id }, { method: "post" });

  return (
    <Page
      title="Destinations"
      subtitle="The Meta datasets your events go to, and which events each one gets."
      backAction={{ content: "Home", url: "/app" }}
      primaryAction={
        data.connected
          ? { content: "Add destination", onAction: () => open(null) }
          : undefined
      }
    >
      <FormSaveBar
        id="destination-save-bar"
        open={dirty}
        saving={busy}
        onSave={() => formRef.current?.requestSubmit()}
        onDiscard={() => setValues(saved)}
      />
      <Layout>
        <Layout.Section>
          <BlockStack gap="400">
            {!data.connected && (
              <Banner tone="info" title="Connect your Meta dataset first">
                <p>
                  Your own dataset is set up on{" "}
                  <RemixLink to="/app/connect">Connect Meta</RemixLink>; further
                  datasets can be added here once it works.
                </p>
              </Banner>
            )}
            {actionData?.intent === "test" && !actionData.ok && (
              <Banner tone="critical" title="Meta refused the connection">
                <p>{actionData.error}</p>
              </Banner>
            )}
            {data.destinations
              .filter((d) => (d.own ? data.connected : true))
              .map((d) => (
                <DestinationCard
                  key={d.id}
                  d={d}
                  onEdit={() => open(d)}
                  onTest={() => act("test", d.id)}
                  onCheck={() => act("check", d.id)}
                  onRemove={() => act("remove", d.id)}
                  busy={busy}
                />
              ))}
            {editing !== null && (
              <Card>
                <Form method="post" ref={formRef}>
                  <input type="hidden" name="intent" value="save" />
                  <input type="hidden" name="id" value={editing} />
                  <FormLayout>
                    <Text as="h2" variant="headingMd">
                      {editing === "own"
                        ? "Which events your own dataset gets"
                        : editing
                          ? "Edit destination"
                          : "Add a destination"}
                    </Text>
                    {metaError && (
                      <Banner tone="critical" title={metaError.title}>
                        <p>{metaError.fix}</p>
                        <p>Nothing was saved.</p>
                      </Banner>
                    )}
                    {fieldErrors.form && (
                      <Banner tone="critical" title={fieldErrors.form} />
                    )}
                    {editing !== "own" && (
                      <>
                        <TextField
                          label="Dataset (pixel) ID"
                          {...field("pixelId")}
                          helpText="The number under the dataset's name in Meta Events Manager."
                        />
                        <TextField
                          label="Conversions API access token"
                          type="password"
                          {...field("accessToken")}
                          helpText={
                            editing
                              ? "Leave blank to keep the saved token. It is stored encrypted and never shown again."
                              : "Stored encrypted; never shown again."
                          }
                        />
                        <TextField
                          label="Test event code (optional)"
                          {...field("testEventCode")}
                        />
                        <TextField
                          label="Graph API version (optional)"
                          {...field("graphApiVersion")}
                          helpText="Leave blank for the app's default."
                        />
                      </>
                    )}
                    <Select
                      label="Events it gets"
                      options={RULE_KINDS}
                      {...field("ruleKind")}
                    />
                    {values.ruleKind !== "all" && (
                      <TextField
                        label={
                          values.ruleKind === "market"
                            ? "Market handles"
                            : values.ruleKind === "country"
                              ? "Country codes"
                              : values.ruleKind === "currency"
                                ? "Currency codes"
                                : "Sales channels"
                        }
                        {...field("ruleValues")}
                        helpText={
                          values.ruleKind === "channel"
                            ? "online_store, pos, draft (comma separated)"
                            : values.ruleKind === "market"
                              ? "As in Settings › Markets, e.g. canada (comma separated)"
                              : "Comma separated, e.g. DE, AT or EUR"
                        }
                      />
                    )}
                    {values.ruleKind === "market" && (
                      <TextField
                        label="The markets' countries"
                        {...field("ruleCountries")}
                        helpText="Events are matched by country: list each country of these markets, e.g. CA."
                      />
                    )}
                    <InlineStack align="end" gap="200">
                      <Button onClick={() => setEditing(null)}>Cancel</Button>
                      <Button submit variant="primary" loading={busy}>
                        Save
                      </Button>
                    </InlineStack>
                  </FormLayout>
                </Form>
              </Card>
            )}
          </BlockStack>
        </Layout.Section>
        <Layout.Section variant="oneThird">
          <Card>
            <BlockStack gap="200">
              <Text as="h2" variant="headingMd">
                How routing works
              </Text>
              <Text as="p">
                Each event goes to every dataset whose rule takes it, with the
                same event id, so Meta deduplicates it against the storefront
                pixel. An event no dataset takes is not sent.
              </Text>
              <Text as="p" tone="subdued">
                Each dataset sends, retries and pauses on its own: a revoked
                token stops only its dataset, and its events wait until you fix
                it here.
              </Text>
            </BlockStack>
          </Card>
        </Layout.Section>
      </Layout>
    </Page>
  );
}

function DestinationCard({
  d,
  onEdit,
  onTest,
  onCheck,
  onRemove,
  busy,
}: {
  d: Destination;
  onEdit(): void;
  onTest(): void;
  onCheck(): void;
  onRemove(): void;
  busy: boolean;
}) {
  return (
    <Card>
      <BlockStack gap="200">
        <InlineStack align="space-between" blockAlign="center" gap="200">
          <InlineStack gap="200" blockAlign="center">
            <Text as="h2" variant="headingMd">
              {d.pixelName ?? d.pixelId}
            </Text>
            {d.own && <Badge>Your dataset</Badge>}
            {d.pause ? (
              <Badge tone="critical">Paused</Badge>
            ) : d.backingOffUntil ? (
              <Badge tone="warning">Slowed down by Meta</Badge>
            ) : (
              <Badge tone="success">Sending</Badge>
            )}
          </InlineStack>
          <InlineStack gap="200">
            <Button onClick={onEdit} disabled={busy}>
              {d.own ? "Edit rule" : "Edit"}
            </Button>
            <Button onClick={onTest} disabled={busy}>
              Test
            </Button>
            <Button onClick={onCheck} disabled={busy}>
              Check now
            </Button>
            {!d.own && (
              <Button tone="critical" onClick={onRemove} disabled={busy}>
                Remove
              </Button>
            )}
          </InlineStack>
        </InlineStack>
        <Text as="p" tone="subdued">
          Dataset {d.pixelId} · token {d.tokenMasked ?? "—"} · {d.ruleText}
        </Text>
        {d.pause && (
          <Banner tone="critical" title={d.pause.title}>
            <p>{d.pause.fix}</p>
          </Banner>
        )}
        <Text as="p">
          {d.lastDeliveryAt
            ? `Last delivery ${formatDateTime(d.lastDeliveryAt)}`
            : "Nothing delivered yet"}{" "}
          · {formatNumber(d.backlog)} waiting ·{" "}
          <RemixLink to={`/app/events?dataset=${d.logId}`}>Event log</RemixLink>
        </Text>
        <DatasetCheck d={d} />
      </BlockStack>
    </Card>
  );
}

/** The dataset's last daily check (decisions 126-128, 160), as Home shows the own dataset's. */
function DatasetCheck({ d }: { d: Destination }) {
  const c = d.check;
  if (!c)
    return (
      <Text as="p" tone="subdued">
        Not checked with Meta yet: checked once a day, or with Check now.
      </Text>
    );
  // A paused dataset's banner already says what to fix (decisions 126).
  const warning = d.pause ? undefined : TOKEN_WARNING[c.tokenStatus];
  return (
    <BlockStack gap="200">
      {warning && (
        <Banner tone={warning.tone} title={warning.title}>
          <BlockStack gap="200">
            <p>
              {c.tokenStatus === "expiring" && c.tokenExpiresAt
                ? `It stops working on ${formatDateTime(c.tokenExpiresAt)}. `
                : "Sending to this dataset will pause at its next delivery. "}
              {c.tokenFix}
            </p>
            {c.tokenDetail && <p>Meta&apos;s answer: {c.tokenDetail}</p>}
          </BlockStack>
        </Banner>
      )}
      <Labelled label={`Meta's check · ${formatDateTime(c.checkedAt)}`}>
        <Text as="p">Access token: {tokenStatusText(c)}</Text>
        <Text as="p">
          Meta&apos;s match quality:{" "}
          {c.quality.length > 0
            ? c.quality
                .map(
                  (q) =>
                    `${eventLabel(q.eventName)} ${q.matchScore === null ? "–" : q.matchScore.toFixed(1)}`,
                )
                .join(" · ")
            : "no verdict on this app's events yet"}
        </Text>
      </Labelled>
      {c.qualityError && <Banner tone="warning">{c.qualityError}</Banner>}
      {c.sendersError && <Banner tone="warning">{c.sendersError}</Banner>}
      {c.senders.length > 0 && (
        <Banner
          tone="warning"
          title="Another integration seems to send the same events to this dataset"
        >
          <p>
            Meta counted clearly more events than this app sent:{" "}
            {c.senders
              .slice(0, 3)
              .map(
                (f) =>
                  `${f.day} ${eventLabel(f.eventName)} (${f.source}) Meta ${formatNumber(f.meta)}, this app ${formatNumber(f.ours)}`,
              )
              .join("; ")}
            . Double counting inflates the conversions Meta reports; Home
            explains how to find the other sender.
          </p>
        </Banner>
      )}
    </BlockStack>
  );
}
