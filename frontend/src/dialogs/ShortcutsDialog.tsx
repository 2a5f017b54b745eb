import { Modal } from "../components/Modal";

const SHORTCUTS: [string, string][] = [
  ["Ctrl/⌘ + S", "save a new version"],
  ["Ctrl/⌘ + Enter", "run with test input"],
  ["Shift + Enter", "run the selected node alone (inputs from pins or the last run)"],
  ["Ctrl/⌘ + Shift + Enter", "run everything up to the selected node"],
  ["Ctrl/⌘ + Z", "undo"],
  ["Ctrl/⌘ + Shift + Z, Ctrl/⌘ + Y", "redo"],
  ["Ctrl/⌘ + C, Ctrl/⌘ + V", "copy, paste the selected nodes"],
  ["Ctrl/⌘ + D", "duplicate the selected nodes"],
  ["Ctrl/⌘ + A", "select every node"],
  ["Delete, Backspace", "delete the selection"],
  ["L", "auto-layout"],
  ["F", "fit the view"],
  ["Escape", "clear the selection, close a dialog"],
  ["?", "this list"],
];

export function ShortcutsDialog({ onClose }: { onClose: () => void }) {
  return (
    <Modal title="Keyboard shortcuts" onClose={onClose}>
      <table className="cm-table">
        <tbody>
          {SHORTCUTS.map(([keys, action]) => (
            <tr key={keys}>
              <td>
                <kbd>{keys}</kbd>
              </td>
              <td>{action}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Modal>
  );
}
