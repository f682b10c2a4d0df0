import { KeyValueStore } from "@effect/platform"
import type { Config } from "@sluice/engine"
import { Context, Data, Effect, Layer } from "effect"
import type { Field } from "./internal/templates/handlebars.js"
import * as storage from "./internal/templates/storage.js"
import { make } from "./internal/templates/templates.js"

export { StorageUnavailable } from "./internal/templates/storage.js"

/** The Handlebars sources of a template; at least one field. */
export interface TemplateSource {
  readonly subject?: string | undefined
  readonly text?: string | undefined
  readonly html?: string | undefined
}

/** What a template renders to. */
export interface Rendered {
  readonly subject?: string
  readonly text?: string
  readonly html?: string
}

export class TemplateNotFound extends Data.TaggedError("TemplateNotFound")<{
  readonly id: string
}> {
  override get message() {
    return `no template "${this.id}"`
  }
}

/**
 * A template that does not compile (at `put`) or does not render (at `render`: a missing helper or
 * partial, a subject that would break out of its header). `line`/`column` are Handlebars' own.
 */
export class TemplateInvalid extends Data.TaggedError("TemplateInvalid")<{
  readonly id: string
  readonly field: Field | "template"
  readonly reason: string
  readonly line?: number
  readonly column?: number
}> {
  override get message() {
    const where = this.line === undefined ? "" : ` (line ${this.line}${this.column === undefined ? "" : `, column ${this.column}`})`
    return `template "${this.id}" ${this.field}${where}: ${this.reason}`
  }
}

export interface TemplatesShape {
  /** Validates (compiles) the sources and stores them as the template's next version. */
  readonly put: (id: string, source: TemplateSource) => Effect.Effect<{ id: string; version: number }, TemplateInvalid>
  /** Renders the template's latest version; compiled once per id and version, then cached. */
  readonly render: (id: string, vars: unknown) => Effect.Effect<Rendered, TemplateNotFound | TemplateInvalid>
}

/** Email templates: Handlebars sources in a KeyValueStore, compiled templates cached in memory. */
export class Templates extends Context.Tag("@sluice/http/Templates")<Templates, TemplatesShape>() {
  /** On the KeyValueStore in context (a shared one, e.g. Redis, lets every process see every put). */
  static readonly layer: Layer.Layer<Templates, never, KeyValueStore.KeyValueStore> = Layer.scoped(
    Templates,
    KeyValueStore.KeyValueStore.pipe(Effect.flatMap((store) => make(KeyValueStore.prefix(store, "templates/"))))
  )

  /** In memory for a memory queue, else in a `templates` directory beside the spool. */
  static readonly layerFromConfig = (config: Config.SluiceConfig): Layer.Layer<Templates, storage.StorageUnavailable> =>
    Templates.layer.pipe(Layer.provide(storage.layerFromConfig(config, "templates")))
}

export const layer = Templates.layer
export const layerFromConfig = Templates.layerFromConfig
