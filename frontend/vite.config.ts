/// <reference types="vitest/config" />
import { resolve } from "node:path";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The bundle is committed under static/editor/ with fixed names, so Django serves it without Node and
// CI can check that a fresh build changes nothing.
export default defineConfig({
  plugins: [react()],
  base: "/static/editor/",
  build: {
    outDir: resolve(import.meta.dirname, "../static/editor"),
    emptyOutDir: true,
    sourcemap: false,
    cssCodeSplit: false,
    chunkSizeWarningLimit: 2000,
    rolldownOptions: {
      input: resolve(import.meta.dirname, "src/main.tsx"),
      output: {
        entryFileNames: "editor.js",
        assetFileNames: (asset) => (asset.names?.some((n) => n.endsWith(".css")) ? "editor.css" : "[name][extname]"),
        codeSplitting: false,
      },
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
