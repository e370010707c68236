// Built into dist/ for `berth serve` with BERTH_DEMO_DIR=examples/booking-page/dist,
// which serves it at /demo/ on the API's own origin. `npm run dev` serves it
// with hot reload and forwards /v1 to a berth on 127.0.0.1:8080.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/demo/",
  build: { outDir: "dist", emptyOutDir: true },
  server: { proxy: { "/v1": { target: "http://127.0.0.1:8080", ws: false } } },
});
