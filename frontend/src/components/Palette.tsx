import { useMemo, useState } from "react";
import { useEditor } from "../store";
import type { NodeTypeInfo } from "../types";
import { iconFor } from "./icons";

export const DRAG_MIME = "application/x-concertmaster-node";
const CATEGORY_ORDER = ["triggers", "transforms", "conditions", "actions", "integrations"];

function categoryRank(category: string): number {
  const i = CATEGORY_ORDER.indexOf(category);
  return i === -1 ? CATEGORY_ORDER.length : i;
}

/** The node types, grouped by category and searchable; drag one onto the canvas (or press Enter on it). */
export function Palette({ onAdd, error }: { onAdd: (type: string) => void; error: string | null }) {
  const nodeTypes = useEditor((s) => s.nodeTypes);
  const [query, setQuery] = useState("");
  const [collapsed, setCollapsed] = useState<Record<string, boolean>>({});

  const groups = useMemo(() => {
    const q = query.trim().toLowerCase();
    const matches = Object.values(nodeTypes).filter(
      (t) =>
        t.is_enabled !== false &&
        (!q || [t.name, t.display_name, t.description, t.category].some((f) => f?.toLowerCase().includes(q))),
    );
    const byCategory = new Map<string, NodeTypeInfo[]>();
    for (const t of matches) byCategory.set(t.category, [...(byCategory.get(t.category) ?? []), t]);
    return [...byCategory.entries()]
      .sort(([a], [b]) => categoryRank(a) - categoryRank(b) || a.localeCompare(b))
      .map(([category, types]) => [category, types.sort((a, b) => a.display_name.localeCompare(b.display_name))] as const);
  }, [nodeTypes, query]);

  return (
    <aside className="cm-palette" aria-label="Node palette">
      <input
        className="cm-input cm-palette__search"
        type="search"
        placeholder="Search nodes…"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        aria-label="Search nodes"
      />
      {error && <p className="cm-error">{error}</p>}
      {!error && groups.length === 0 && <p className="cm-muted">No node type matches.</p>}
      {groups.map(([category, types]) => (
        <section key={category} className="cm-palette__group">
          <button
            type="button"
            className="cm-palette__category"
            onClick={() => setCollapsed((c) => ({ ...c, [category]: !c[category] }))}
            aria-expanded={!collapsed[category]}
          >
            {collapsed[category] ? "▸" : "▾"} {category} <span className="cm-muted">{types.length}</span>
          </button>
          {!collapsed[category] &&
            types.map((t) => (
              <div
                key={t.name}
                className="cm-palette__item"
                draggable
                tabIndex={0}
                role="button"
                data-node-type={t.name}
                title={t.description}
                onDragStart={(e) => {
                  e.dataTransfer.setData(DRAG_MIME, t.name);
                  e.dataTransfer.effectAllowed = "move";
                }}
                onDoubleClick={() => onAdd(t.name)}
                onKeyDown={(e) => {
                  if (e.key === "Enter") onAdd(t.name);
                }}
              >
                <span className="cm-node__icon" aria-hidden>
                  {iconFor(t.icon, t.name)}
                </span>
                <span>
                  <span className="cm-palette__name">{t.display_name || t.name}</span>
                  <span className="cm-palette__desc">{t.description}</span>
                </span>
              </div>
            ))}
        </section>
      ))}
    </aside>
  );
}
