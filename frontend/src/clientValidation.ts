/** Check each node's config against its type's schema before asking the server (same Ajv as the forms). */
import type { Definition, NodeTypeInfo, Problem } from "./types";
import { validator } from "./validator";

export function clientProblems(definition: Definition, types: Record<string, NodeTypeInfo>): Problem[] {
  const problems: Problem[] = [];
  definition.nodes.forEach((node, index) => {
    const nodeType = types[node.type];
    if (!nodeType) {
      problems.push({ path: `/nodes/${index}/type`, message: `Unknown node type "${node.type}".` });
      return;
    }
    const { $schema: _ignored, ...schema } = nodeType.config_schema;
    const { errors } = validator.validateFormData(node.config ?? {}, schema as never);
    for (const error of errors) {
      const property = (error.property ?? "").replace(/^\./, "").replace(/\./g, "/");
      const missing = error.name === "required" ? String((error.params as { missingProperty?: string })?.missingProperty ?? "") : "";
      const field = missing && !property.split("/").includes(missing) ? [property, missing].filter(Boolean).join("/") : property;
      problems.push({ path: `/nodes/${index}/config${field ? `/${field}` : ""}`, message: error.message ?? "is invalid" });
    }
  });
  return problems;
}
