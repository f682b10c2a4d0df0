#!/usr/bin/env node
// The published entry stays plain JavaScript so npm can link it as a bin; tsx compiles the
// TypeScript sources on load, so a fresh clone needs no build step.
import { register } from "tsx/esm/api"

register()
await import("../src/main.ts")
