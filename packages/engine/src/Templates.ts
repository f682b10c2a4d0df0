import type { Effect } from "effect"
import { Context, Data } from "effect"

/** The parts of a message a template gives. */
export type TemplateField = "subject" | "text" | "html"

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
 * A template that does not compile (when stored) or does not render (at submit: a missing helper or
 * partial, a subject that would break out of its header). `line`/`column` are Handlebars' own.
 */
export class TemplateInvalid extends Data.TaggedError("TemplateInvalid")<{
  readonly id: string
  readonly field: TemplateField | "template"
  readonly reason: string
  readonly line?: number
  readonly column?: number
}> {
  override get message() {
    const where = this.line === undefined ? "" : ` (line ${this.line}${this.column === undefined ? "" : `, column ${this.column}`})`
    return `template "${this.id}"${this.field === "template" ? "" : ` ${this.field}`}${where}: ${this.reason}`
  }
}

export interface TemplatesShape {
  /** Renders the template's latest version with `vars`. */
  readonly render: (id: string, vars: unknown) => Effect.Effect<Rendered, TemplateNotFound | TemplateInvalid>
}

/**
 * The port through which `Sluice.submit` renders a message's `template`. Optional: an engine built
 * without it refuses such messages (InvalidMessage at `template`). @sluice/content provides it
 * (Handlebars in worker threads, sources in a KeyValueStore).
 */
export class Templates extends Context.Tag("@sluice/engine/Templates")<Templates, TemplatesShape>() {}
