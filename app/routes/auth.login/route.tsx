import { useState } from "react";
import {
  json,
  type ActionFunctionArgs,
  type LoaderFunctionArgs,
} from "@remix-run/node";
import { Form, useActionData, useLoaderData } from "@remix-run/react";
import {
  AppProvider as PolarisAppProvider,
  Button,
  Card,
  FormLayout,
  Page,
  Text,
  TextField,
} from "@shopify/polaris";
import polarisTranslations from "@shopify/polaris/locales/en.json";
import polarisStyles from "@shopify/polaris/build/esm/styles.css?url";

import { LoginErrorType } from "@shopify/shopify-app-remix/server";
import { login } from "../../shopify.server";

import { loginErrorMessage } from "./error.server";

export const links = () => [{ rel: "stylesheet", href: polarisStyles }];

/** A shop domain is a host name, at most 255 characters; login() would redirect to any length (decisions 29). */
const tooLong = (shop: unknown) =>
  typeof shop === "string" && shop.length > 255;
const invalidShop = () =>
  loginErrorMessage({ shop: LoginErrorType.InvalidShop });

export const loader = async ({ request }: LoaderFunctionArgs) => {
  if (tooLong(new URL(request.url).searchParams.get("shop")))
    return { errors: invalidShop(), polarisTranslations };
  const errors = loginErrorMessage(await login(request));

  return { errors, polarisTranslations };
};

export const action = async ({ request }: ActionFunctionArgs) => {
  // login() reads the form itself and fails (a 500) when the body is not a form, or its shop is a file.
  const shop = await request
    .clone()
    .formData()
    .then(
      (form) => form.get("shop"),
      () => undefined,
    );
  if (shop !== null && typeof shop !== "string") {
    const errors = {
      shop: "The form could not be read: please enter your shop domain to log in",
    };
    return json({ errors }, { status: 400 });
  }
  if (tooLong(shop) || tooLong(new URL(request.url).searchParams.get("shop")))
    return { errors: invalidShop() };
  const errors = loginErrorMessage(await login(request));

  return {
    errors,
  };
};

export default function Auth() {
  const loaderData = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>();
  const [shop, setShop] = useState("");
  const { errors } = actionData || loaderData;

  return (
    <PolarisAppProvider i18n={loaderData.polarisTranslations}>
      <Page>
        <Card>
          <Form method="post">
            <FormLayout>
              <Text variant="headingMd" as="h2">
                Log in
              </Text>
              <TextField
                type="text"
                name="shop"
                label="Shop domain"
                helpText="example.myshopify.com"
                value={shop}
                onChange={setShop}
                autoComplete="on"
                error={errors.shop}
              />
              <Button submit>Log in</Button>
            </FormLayout>
          </Form>
        </Card>
      </Page>
    </PolarisAppProvider>
  );
}
