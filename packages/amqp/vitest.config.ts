import { defineProject, mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.ts"

// One file at a time: the cluster tests stop and start the broker, which every file here talks to.
export default mergeConfig(shared, defineProject({ test: { name: "amqp", fileParallelism: false } }))
