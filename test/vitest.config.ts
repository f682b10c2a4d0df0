import { defineProject, mergeConfig } from "vitest/config"
import shared from "../vitest.shared.ts"

// The cross-package tests live at the top of test/, not in a test/ folder of their own.
export default mergeConfig(shared, defineProject({ test: { name: "integration", include: ["**/*.test.ts"] } }))
