import { SaveBar } from "@shopify/app-bridge-react";

/**
 * App Bridge's contextual save bar, in the admin's top bar while a form has unsaved changes: Save and Discard.
 */
export function FormSaveBar({
  id,
  open,
  saving,
  onSave,
  onDiscard,
}: {
  id: string;
  open: boolean;
  saving: boolean;
  onSave: () => void;
  onDiscard: () => void;
}) {
  return (
    <SaveBar id={id} open={open}>
      <button
        variant="primary"
        onClick={onSave}
        loading={saving ? "" : undefined}
      />
      <button onClick={onDiscard} />
    </SaveBar>
  );
}
