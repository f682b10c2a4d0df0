import * as KeyValueStore from "@effect/platform/KeyValueStore"
import type { Rendered, TemplateInvalid, TemplateNotFound } from "@sluice/engine"
import { Templates as EngineTemplates } from "@sluice/engine"
import type { Duration } from "effect"
import { Context, Data, Effect, Layer } from "effect"
import { availableParallelism } from "node:os"
import * as storage from "./internal/templates/storage.js"
import { make } from "./internal/templates/templates.js"

export { StorageUnavailable } from "./internal/templates/storage.js"
// The engine renders through its port with these; they are the engine's so that its errors name them.
export type { Rendered } from "@sluice/engine"
export { TemplateInvalid, TemplateNotFound } from "@sluice/engine"

/** The Handlebars sources of a template; at least one field. */
export interface TemplateSource {
  readonly subject?: string | undefined
  readonly text?: string | undefined
  readonly html?: string | undefined
}

/** Sources over `http.maxTemplateBytes` (their UTF-8 bytes together), refused at `put`. */
export class TemplateTooLarge extends Data.TaggedError("TemplateTooLarge")<{
  readonly id: string
  readonly bytes: number
  readonly limit: number
}> {
  override get message() {
    return `template "${this.id}" has ${this.bytes} bytes of sources; the limit (http.maxTemplateBytes) is ${this.limit}`
  }
}

/**
 * Bounds on what a template may cost. Compiling and rendering happen in worker threads, never on
 * the event loop; a compile or a render over `timeout` is stopped and refused (TemplateInvalid).
 */
export interface Options {
  /** Compiled versions remembered (default 10,000). */
  readonly capacity?: number
  /** UTF-8 bytes of a template's sources together (default 256 KiB). */
  readonly maxBytes?: number
  /** How long compiling a template, or rendering one message from it, may take (default 10 seconds). */
  readonly timeout?: Duration.DurationInput
  /** UTF-8 bytes a render may produce, its fields together (default 10 MiB, the default http.maxBodyBytes). */
  readonly maxRenderedBytes?: number
  /** Worker threads that compile and render (default 2, or 1 on a single CPU). */
  readonly workers?: number
}

export const defaults = {
  maxBytes: 256 * 1024,
  timeout: "10 seconds" as Duration.DurationInput,
  maxRenderedBytes: 10 * 1024 * 1024,
  workers: Math.min(2, availableParallelism()),
  // A worker compiling a 256 KiB template of nothing but {{a}} peaks under 400 MB; past this it is stopped.
  maxHeapMb: 512,
  // The generated code a worker keeps compiled templates for (a 256 KiB template can make 20 MB of it).
  maxCodeBytes: 64 * 1024 * 1024
} as const

/**
 * What templates read of the file's `http` section (@sluice/http's HttpConfig): its template limits,
 * and its body limit as the most a render may produce.
 */
export interface WithHttp {
  readonly http: {
    readonly maxTemplateBytes: number
    readonly templateTimeout: Duration.Duration
    readonly maxBodyBytes: number
  }
}

/** The options `config.http` sets. */
export const optionsFromConfig = (config: WithHttp): Options => ({
  maxBytes: config.http.maxTemplateBytes,
  timeout: config.http.templateTimeout,
  maxRenderedBytes: config.http.maxBodyBytes
})

export interface TemplatesShape {
  /** Validates (compiles) the sources and stores them as the template's next version. */
  readonly put: (id: string, source: TemplateSource) => Effect.Effect<{ id: string; version: number }, TemplateInvalid | TemplateTooLarge>
  /** Renders the template's latest version; compiled once per id and version, then cached. */
  readonly render: (id: string, vars: unknown) => Effect.Effect<Rendered, TemplateNotFound | TemplateInvalid>
}

/**
 * Email templates: Handlebars sources in a KeyValueStore, compiled templates cached in memory. Each
 * layer gives the engine's `Templates` port too (the same service), so `Sluice.submit` renders with it.
 */
export class Templates extends Context.Tag("@sluice/content/Templates")<Templates, TemplatesShape>() {
  /** On the KeyValueStore in context (a shared one, e.g. Redis, lets every process see every put). */
  static readonly layerWith = (options: Options): Layer.Layer<Templates | EngineTemplates, never, KeyValueStore.KeyValueStore> =>
    Layer.effect(EngineTemplates, Templates).pipe(Layer.provideMerge(Layer.scoped(
      Templates,
      KeyValueStore.KeyValueStore.pipe(Effect.flatMap((store) => make(KeyValueStore.prefix(store, "templates/"), options)))
    )))

  /** `layerWith` the default options. */
  static readonly layer: Layer.Layer<Templates | EngineTemplates, never, KeyValueStore.KeyValueStore> = Templates.layerWith({})

  /** With the options of `config.http`: in memory for a memory queue, else in a `templates` directory beside the spool. */
  static readonly layerFromConfig = (
    config: WithHttp & storage.WithQueue
  ): Layer.Layer<Templates | EngineTemplates, storage.StorageUnavailable> =>
    Templates.layerWith(optionsFromConfig(config)).pipe(Layer.provide(storage.layerFromConfig(config, "templates")))
}

export const layer = Templates.layer
export const layerWith = Templates.layerWith
export const layerFromConfig = Templates.layerFromConfig
