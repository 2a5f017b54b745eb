import { describe, expect, it } from "vitest";
import { clientProblems } from "./clientValidation";
import type { NodeTypeInfo } from "./types";

const HTTP: NodeTypeInfo = {
  name: "http_request",
  category: "actions",
  display_name: "HTTP request",
  description: "",
  icon: "globe",
  config_schema: {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    properties: { url: { type: "string", format: "uri" }, method: { enum: ["GET", "POST"] } },
    required: ["url"],
    additionalProperties: false,
  },
  inputs: ["main"],
  outputs: ["main"],
  is_enabled: true,
};

describe("clientProblems", () => {
  it("points a missing required field at its config path", () => {
    const problems = clientProblems({ nodes: [{ id: "a", type: "http_request", config: {} }], edges: [] }, { http_request: HTTP });
    expect(problems.map((p) => p.path)).toEqual(["/nodes/0/config/url"]);
  });

  it("checks formats the way the server does (Draft 2020-12 with formats)", () => {
    const problems = clientProblems(
      { nodes: [{ id: "a", type: "http_request", config: { url: "not a uri", method: "GET" } }], edges: [] },
      { http_request: HTTP },
    );
    expect(problems.map((p) => p.path)).toEqual(["/nodes/0/config/url"]);
  });

  it("reports unknown types and accepts a valid config", () => {
    const types = { http_request: HTTP };
    expect(clientProblems({ nodes: [{ id: "a", type: "nope", config: {} }], edges: [] }, types)).toEqual([
      { path: "/nodes/0/type", message: 'Unknown node type "nope".' },
    ]);
    expect(clientProblems({ nodes: [{ id: "a", type: "http_request", config: { url: "https://x.org" } }], edges: [] }, types)).toEqual([]);
  });
});
