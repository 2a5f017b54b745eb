import { describe, expect, it } from "vitest";
import { outcomeText, readImportResult, readReport, summaryText } from "./importResult";

const EDITOR = "/workflows/{id}/edit/";

const REPORT = {
  name: "Orders",
  n8n_id: "12",
  refused: false,
  reasons: [],
  summary: { translated: 2, translated_with_changes: 1, not_translatable: 1 },
  nodes: [
    { node: "Webhook", type: "n8n-nodes-base.webhook", outcome: "translated", ids: ["webhook"], changes: [], reason: "" },
    { node: "Set", type: "n8n-nodes-base.set", outcome: "translated_with_changes", ids: ["set"], changes: ["dot notation kept.", "types coerced."], reason: "" },
    { node: "Agent", type: "@n8n/n8n-nodes-langchain.agent", outcome: "not_translatable", ids: [], changes: [], reason: "AI / LangChain node" },
  ],
  credentials: [{ node: "Slack", n8n_type: "slackApi", name: "Team Slack" }],
};

describe("readImportResult", () => {
  it("reads a multi-workflow n8n import: the drafts with links and reports, and the refused ones", () => {
    const body = {
      workflows: [{ id: "a1", name: "Orders", status: "draft", n8n_report: REPORT }],
      refused: [{ ...REPORT, name: "Agent only", n8n_id: "13", refused: true, reasons: ["No node could be translated."] }],
    };
    const outcome = readImportResult(body, EDITOR);
    expect(outcome.created).toHaveLength(1);
    expect(outcome.created[0]).toMatchObject({ id: "a1", name: "Orders", url: "/workflows/a1/edit/" });
    expect(outcome.created[0].report?.nodes.map((n) => [n.node, n.outcome, n.detail])).toEqual([
      ["Webhook", "translated", ""],
      ["Set", "translated_with_changes", "dot notation kept. types coerced."],
      ["Agent", "not_translatable", "AI / LangChain node"],
    ]);
    expect(outcome.created[0].report?.credentials).toEqual(["Team Slack (slackApi, node Slack)"]);
    expect(outcome.refused.map((r) => [r.name, r.n8nId, r.reasons])).toEqual([
      ["Agent only", "13", ["No node could be translated."]],
    ]);
    expect(outcomeText(outcome)).toBe("1 draft workflow created, 1 refused.");
  });

  it("reads a single n8n workflow import as one draft with its report", () => {
    const outcome = readImportResult({ id: "b2", name: "Orders", n8n_report: REPORT }, EDITOR);
    expect(outcome.refused).toEqual([]);
    expect(outcome.created[0].url).toBe("/workflows/b2/edit/");
    expect(outcome.created[0].report?.summary).toEqual(REPORT.summary);
  });

  it("reads an export import as one draft without a report", () => {
    const outcome = readImportResult({ id: "c3", name: "Copied" }, EDITOR);
    expect(outcome.created).toEqual([{ id: "c3", name: "Copied", url: "/workflows/c3/edit/", report: null }]);
    expect(outcomeText(outcome)).toBe("1 draft workflow created.");
  });

  it("shows nothing created for a list where every workflow was refused, and ignores malformed rows", () => {
    const outcome = readImportResult({ workflows: [{ name: "no id" }, null], refused: [REPORT, "junk"] }, EDITOR);
    expect(outcome.created).toEqual([]);
    expect(outcome.refused).toHaveLength(1);
    expect(outcomeText(outcome)).toBe("0 draft workflows created, 1 refused.");
  });
});

describe("report text", () => {
  it("summarises the outcomes present", () => {
    expect(summaryText(REPORT.summary)).toBe("2 translated, 1 with changes, 1 not translatable");
    expect(summaryText({ translated: 3, translated_with_changes: 0, not_translatable: 0 })).toBe("3 translated");
  });

  it("reads no report from nothing", () => {
    expect(readReport(null)).toBeNull();
    expect(readReport(undefined)).toBeNull();
  });
});
