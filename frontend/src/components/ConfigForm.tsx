import Form from "@rjsf/core";
import type { FieldProps, RJSFSchema, UiSchema, WidgetProps } from "@rjsf/utils";
import { useEffect, useMemo, useRef, useState } from "react";
import { isExpression, previewExpression } from "../expression";
import { contextFromPaths, mergeContext } from "../debug";
import { useServerPreview, type ServerPreview } from "../hooks/useServerPreview";
import { ExpressionAssist } from "./ExpressionAssist";
import {
  ANY_VALUE_FIELD,
  anyValueLabel,
  anyValueRows,
  formSchemaFor,
  parseAnyValue,
  showAnyValue,
  uiSchemaFor,
} from "../formSchema";
import { fieldErrorTree } from "../problems";
import type { JsonObject } from "../types";
import { validator } from "../validator";

interface FormContext {
  preview: Record<string, unknown> | null;
  /** The server's expression preview endpoint (editor only). */
  previewUrl: string | null;
  nodeId: string;
}

/** Completion data: what the editor holds (pins, the run shown), plus the paths the server's preview knows. */
function assistContext(local: Record<string, unknown> | null, server: ServerPreview | null) {
  return mergeContext(local, server?.completions?.length ? contextFromPaths(server.completions) : null);
}

/** A text input that marks Jinja expressions and previews them against the last run. */
function ExpressionTextWidget(props: WidgetProps) {
  const { BaseInputTemplate } = props.registry.templates;
  const context = props.registry.formContext as FormContext | undefined;
  const preview = context?.preview ?? null;
  const server = useServerPreview(context?.previewUrl ?? null, props.value, context?.nodeId ?? "");
  return (
    <div className={isExpression(props.value) ? "cm-expr cm-expr--on" : "cm-expr"}>
      <ExpressionAssist context={assistContext(preview, server)} onApply={(text) => props.onChange(text)}>
        <BaseInputTemplate {...props} />
      </ExpressionAssist>
      <ExpressionMark value={props.value} preview={preview} server={server} />
    </div>
  );
}

function ExpressionMark(props: { value: unknown; preview: Record<string, unknown> | null; server: ServerPreview | null }) {
  const { value, preview, server } = props;
  if (!isExpression(value)) return null;
  if (server) {
    // Rendered by the server in the engine's sandbox: what the run will produce, or the error it will hit.
    return (
      <div className="cm-expr__info">
        <span className="cm-expr__badge" title="Rendered by the server (Jinja2 sandbox) just before the node runs">
          ƒx expression
        </span>
        {server.error ? (
          <span className="cm-error" data-testid="expression-error" title="The error a test run would hit">
            {" "}
            {server.error}
          </span>
        ) : (
          <span className="cm-expr__preview" data-testid="expression-preview" title="Rendered by the server over the pinned and last-run data">
            → {typeof server.value === "string" ? server.value : JSON.stringify(server.value)}
          </span>
        )}
      </div>
    );
  }
  const rendered = preview ? previewExpression(String(value), preview) : null;
  return (
    <div className="cm-expr__info">
      <span className="cm-expr__badge" title="Rendered by the server (Jinja2 sandbox) just before the node runs">
        ƒx expression
      </span>
      {rendered && rendered.text !== String(value) ? (
        <span className="cm-expr__preview" title="Preview from the pinned data and the last run's data">
          {rendered.complete ? "→ " : "→ (partial) "}
          {rendered.text}
        </span>
      ) : rendered ? (
        <span className="cm-muted"> filters and operators are evaluated on the server</span>
      ) : (
        <span className="cm-muted"> preview after a run or with pinned data</span>
      )}
    </div>
  );
}

/**
 * A field whose schema allows any value (no type, or several): a labelled multi-line box. Text that parses as
 * JSON (a number, list, object, ...) becomes that value; anything else, expressions included, stays a string.
 * The box keeps the text as typed and follows the value only when it changes from outside (undo, reload).
 */
function AnyValueField(props: FieldProps) {
  const { formData, onChange, fieldPathId, disabled, readonly, registry, name, schema, required } = props;
  const context = registry.formContext as FormContext | undefined;
  const preview = context?.preview ?? null;
  const server = useServerPreview(context?.previewUrl ?? null, formData, context?.nodeId ?? "");
  const [text, setText] = useState(() => showAnyValue(formData));
  useEffect(() => {
    setText((current) => (sameValue(parseAnyValue(current), formData) ? current : showAnyValue(formData)));
  }, [formData]);
  const label = anyValueLabel(name, schema as JsonObject);
  const description = typeof schema.description === "string" ? schema.description : null;
  return (
    <div className={isExpression(formData) ? "cm-expr cm-expr--on cm-any-field" : "cm-expr cm-any-field"}>
      {label && (
        <label className="control-label" htmlFor={fieldPathId.$id}>
          {label}
          {required && <span className="required">*</span>}
        </label>
      )}
      {description && <p className="field-description cm-muted">{description}</p>}
      <ExpressionAssist
        context={assistContext(preview, server)}
        onApply={(value) => {
          setText(value);
          onChange(parseAnyValue(value), fieldPathId.path);
        }}
      >
      <textarea
        id={fieldPathId.$id}
        className="cm-any cm-code"
        rows={anyValueRows(text)}
        value={text}
        spellCheck={false}
        disabled={disabled || readonly}
        placeholder="text, {{ expression }} or JSON"
        onChange={(e) => {
          setText(e.target.value);
          onChange(parseAnyValue(e.target.value), fieldPathId.path);
        }}
      />
      </ExpressionAssist>
      <ExpressionMark value={formData} preview={preview} server={server} />
    </div>
  );
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const WIDGETS = { TextWidget: ExpressionTextWidget };
const FIELDS = { [ANY_VALUE_FIELD]: AnyValueField };

export function ConfigForm(props: {
  nodeId: string;
  schema: JsonObject;
  config: JsonObject;
  fieldProblems: Record<string, string[]> | undefined;
  preview: Record<string, unknown> | null;
  previewUrl?: string | null;
  readOnly: boolean;
  onChange: (config: JsonObject) => void;
}) {
  const { nodeId, schema, config, fieldProblems, preview, previewUrl = null, readOnly, onChange } = props;
  const extraErrors = useMemo(() => fieldErrorTree(fieldProblems), [fieldProblems]);
  const formContext = useMemo(() => ({ preview, previewUrl, nodeId }), [preview, previewUrl, nodeId]);
  // The JSON Schema dialect is declared by the server; Ajv2020 already knows it, so drop `$schema`.
  const cleanSchema = useMemo(() => formSchemaFor(schema) as RJSFSchema, [schema]);
  // @rjsf reports a change when it mounts (filling in defaults); only what the user does is an edit. The
  // node last touched is remembered, not a flag reset in an effect: the new form's mount change runs before
  // this component's effects, so a flag still set from the previous node let defaults in as an edit.
  const touched = useRef<string | null>(null);
  const uiSchema = useMemo(
    () => ({ ...uiSchemaFor(schema), "ui:submitButtonOptions": { norender: true } }) as UiSchema,
    [schema],
  );
  const touch = () => {
    touched.current = nodeId;
  };
  return (
    <div onInputCapture={touch} onChangeCapture={touch} onClickCapture={touch} onKeyDownCapture={touch}>
    <Form
      key={nodeId}
      className="cm-form"
      schema={cleanSchema}
      uiSchema={uiSchema}
      formData={config}
      validator={validator}
      widgets={WIDGETS}
      fields={FIELDS}
      formContext={formContext}
      extraErrors={extraErrors as never}
      liveValidate="onChange"
      showErrorList={false}
      noHtml5Validate
      disabled={readOnly}
      idPrefix={`cfg-${nodeId}`}
      onChange={(event) => {
        if (touched.current === nodeId) onChange((event.formData ?? {}) as JsonObject);
      }}
    />
    </div>
  );
}
