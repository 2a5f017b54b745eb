import { describe, expect, it } from "vitest";
import { downloadUrl, fileRefs, formatSize } from "./files";

const report = { type: "file", id: "f1", name: "report.csv", content_type: "text/csv", size: 2048, storage_key: "k" };

describe("fileRefs", () => {
  it("finds references anywhere in a node's data, each once", () => {
    const output = { file: report, rows: [{ attachment: { ...report, id: "f2", name: "b.zip" } }], again: report };
    expect(fileRefs(output).map((f) => [f.id, f.name])).toEqual([
      ["f1", "report.csv"],
      ["f2", "b.zip"],
    ]);
  });

  it("ignores what only looks like a file", () => {
    expect(fileRefs({ type: "file" })).toEqual([]);
    expect(fileRefs({ type: "text", id: "x", name: "y" })).toEqual([]);
    expect(fileRefs("file")).toEqual([]);
    expect(fileRefs(null)).toEqual([]);
  });

  it("reads size and content type", () => {
    expect(fileRefs(report)).toEqual([{ id: "f1", name: "report.csv", contentType: "text/csv", size: 2048 }]);
  });
});

describe("downloadUrl and formatSize", () => {
  it("builds the API's download address", () => {
    expect(downloadUrl("e 1", "f1")).toBe("/api/v1/executions/e%201/files/f1/download/");
  });

  it("formats sizes", () => {
    expect(formatSize(12)).toBe("12 B");
    expect(formatSize(2048)).toBe("2.0 kB");
    expect(formatSize(3_400_000)).toBe("3.4 MB");
    expect(formatSize(null)).toBe("");
  });
});
