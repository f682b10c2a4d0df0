import type { ViteUserConfig } from "vitest/config"

// Shared by every package's vitest.config.ts: network tests talk to real servers on loopback,
// so they get generous but bounded time, and run one file per worker.
const config: ViteUserConfig = {
  // @sluice/* packages resolve to their TypeScript sources, not to the dist/ a build left behind.
  ssr: { resolve: { conditions: ["@sluice/source"] } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: "forks",
    include: ["test/**/*.test.ts"]
  }
}
export default config
