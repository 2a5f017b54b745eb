import Form from "@rjsf/core";
import type { RJSFSchema, WidgetProps } from "@rjsf/utils";
import { useMemo } from "react";
import { isExpression, previewExpression } from "../expression";
import { fieldErrorTree } from "../problems";
import type { JsonObject } from "../types";
import { validator } from "../validator";

interface FormContext {
  preview: Record<string, unknown> | null;
}

/** A text input that marks Jinja expressions and previews them against the last run. */
function ExpressionTextWidget(props: WidgetProps) {
  const { BaseInputTemplate } = props.registry.templates;
  const context = (props.registry.formContext as FormContext | undefined)?.preview ?? null;
  const expression = isExpression(props.value);
  const preview = expression && context ? previewExpression(String(props.value), context) : null;
  return (
    <div className={expression ? "cm-expr cm-expr--on" : "cm-expr"}>
      <BaseInputTemplate {...props} />
      {expression && (
        <div className="cm-expr__info">
          <span className="cm-expr__badge" title="Rendered by the server (Jinja2 sandbox) just before the node runs">
            ƒx expression
          </span>
          {preview ? (
            <span className="cm-expr__preview" title="Preview from the last run's data">
              {preview.complete ? "→ " : "→ (partial) "}
              {preview.text}
            </span>
          ) : (
            <span className="cm-muted"> preview after a run</span>
          )}
        </div>
      )}
    </div>
  );
}

const WIDGETS = { TextWidget: ExpressionTextWidget };
const UI_SCHEMA = { "ui:submitButtonOptions": { norender: true } };

export function ConfigForm(props: {
  nodeId: string;
  schema: JsonObject;
  config: JsonObject;
  fieldProblems: Record<string, string[]> | undefined;
  preview: Record<string, unknown> | null;
  readOnly: boolean;
  onChange: (config: JsonObject) => void;
}) {
  const { nodeId, schema, config, fieldProblems, preview, readOnly, onChange } = props;
  const extraErrors = useMemo(() => fieldErrorTree(fieldProblems), [fieldProblems]);
  const formContext = useMemo(() => ({ preview }), [preview]);
  // The JSON Schema dialect is declared by the server; Ajv2020 already knows it, so drop `$schema`.
  const cleanSchema = useMemo(() => {
    const { $schema: _ignored, ...rest } = schema;
    return rest as RJSFSchema;
  }, [schema]);
  return (
    <Form
      key={nodeId}
      className="cm-form"
      schema={cleanSchema}
      uiSchema={UI_SCHEMA}
      formData={config}
      validator={validator}
      widgets={WIDGETS}
      formContext={formContext}
      extraErrors={extraErrors as never}
      liveValidate="onChange"
      showErrorList={false}
      noHtml5Validate
      disabled={readOnly}
      idPrefix={`cfg-${nodeId}`}
      onChange={(event) => onChange((event.formData ?? {}) as JsonObject)}
    />
  );
}
