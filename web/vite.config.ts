import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// Two single-page apps from one code base: the storefront at / and the staff console at /console/.
// Both are plain static files; the server (the embedded stack's web edge, CloudFront on AWS) answers
// their History API paths with the right index.html and serves /config.json beside them.
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here("."),
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    rollupOptions: {
      input: { store: here("index.html"), console: here("console/index.html") },
    },
  },
});
