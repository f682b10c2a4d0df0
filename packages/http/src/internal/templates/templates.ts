import type { KeyValueStore } from "@effect/platform"
import { Cache, Data, Duration, Effect, Exit, Option, Schema } from "effect"
import type { Rendered, TemplateSource, TemplatesShape } from "../../Templates.js"
import { TemplateInvalid, TemplateNotFound } from "../../Templates.js"
import type { Compiled, Field } from "./handlebars.js"
import { compile, fields, isProblem, problemOf } from "./handlebars.js"

const Stored = Schema.parseJson(Schema.Struct({
  subject: Schema.optionalWith(Schema.String, { exact: true }),
  text: Schema.optionalWith(Schema.String, { exact: true }),
  html: Schema.optionalWith(Schema.String, { exact: true })
}))

// A template's latest version number lives under `version/<id>`, each version's sources under
// `source/<id>/<version>`: a render reads the small pointer, and the sources only on a cache miss.
const versionKey = (id: string) => `version/${id}`
const sourceKey = (id: string, version: number) => `source/${id}/${version}`

// Ids become store keys (file names on disk, Redis keys): short, and nothing a path or shell treats specially.
const validId = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

class VersionOf extends Data.Class<{ readonly id: string; readonly version: number }> {}

type CompiledTemplate = Partial<Record<Field, Compiled>>

/** Compiles every field, or says which one does not compile and where. */
const compileAll = (id: string, source: TemplateSource): Effect.Effect<CompiledTemplate, TemplateInvalid> =>
  Effect.suspend(() => {
    const compiled: CompiledTemplate = {}
    for (const field of fields) {
      const text = source[field]
      if (text === undefined) continue
      const result = compile(field, text)
      if (isProblem(result)) {
        return Effect.fail(new TemplateInvalid({ id, field, reason: result.message, ...lineAndColumn(result) }))
      }
      compiled[field] = result
    }
    return Effect.succeed(compiled)
  })

const lineAndColumn = (where: { line?: number; column?: number }) => ({
  ...(where.line === undefined ? {} : { line: where.line }),
  ...(where.column === undefined ? {} : { column: where.column })
})

const run = (id: string, template: CompiledTemplate, vars: unknown): Effect.Effect<Rendered, TemplateInvalid> =>
  Effect.suspend(() => {
    const rendered: { -readonly [K in Field]?: string } = {}
    for (const field of fields) {
      const compiled = template[field]
      if (compiled === undefined) continue
      try {
        rendered[field] = compiled(vars)
      } catch (error) {
        const problem = problemOf(field, error)
        return Effect.fail(new TemplateInvalid({ id, field, reason: problem.message, ...lineAndColumn(problem) }))
      }
    }
    // A variable holding CR or LF would start a header of its own (header injection).
    if (rendered.subject !== undefined && /[\r\n\0]/.test(rendered.subject)) {
      return Effect.fail(new TemplateInvalid({ id, field: "subject", reason: "renders to a subject with CR, LF or NUL" }))
    }
    return Effect.succeed(rendered)
  })

export const make = (store: KeyValueStore.KeyValueStore, options: { readonly capacity?: number } = {}) =>
  Effect.gen(function*() {
    const readVersion = (id: string) =>
      store.get(versionKey(id)).pipe(Effect.orDie, Effect.map(Option.map(Number)))

    const compiled = yield* Cache.makeWith({
      capacity: options.capacity ?? 10_000,
      lookup: ({ id, version }: VersionOf) =>
        store.get(sourceKey(id, version)).pipe(
          Effect.orDie,
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new TemplateNotFound({ id })),
            onSome: (json) => Schema.decodeUnknown(Stored)(json).pipe(Effect.orDie)
          })),
          Effect.flatMap((source) => compileAll(id, source))
        ),
      // A version's sources never change, so a compiled template stays valid; a failed lookup
      // (a version replaced while being read) is not remembered.
      timeToLive: (exit) => Exit.isSuccess(exit) ? Duration.infinity : Duration.zero
    })

    // One put at a time, so two puts of one id get two versions.
    const writes = yield* Effect.makeSemaphore(1)

    const put: TemplatesShape["put"] = (id, source) =>
      Effect.gen(function*() {
        if (!validId.test(id)) {
          return yield* new TemplateInvalid({
            id,
            field: "template",
            reason: "the id must be 1 to 128 characters of letters, digits, '.', '_' and '-', starting with a letter or digit"
          })
        }
        if (fields.every((field) => source[field] === undefined)) {
          return yield* new TemplateInvalid({ id, field: "template", reason: "has none of subject, text, html" })
        }
        if (source.subject !== undefined && /[\r\n]/.test(source.subject)) {
          return yield* new TemplateInvalid({ id, field: "subject", reason: "contains CR or LF (a subject is one header line)" })
        }
        const template = yield* compileAll(id, source)
        return yield* writes.withPermits(1)(Effect.gen(function*() {
          const previous = Option.getOrElse(yield* readVersion(id), () => 0)
          const version = previous + 1
          const present = Object.fromEntries(fields.flatMap((field) => source[field] === undefined ? [] : [[field, source[field]]]))
          const json = yield* Schema.encode(Stored)(present).pipe(Effect.orDie)
          yield* store.set(sourceKey(id, version), json).pipe(Effect.orDie)
          yield* store.set(versionKey(id), String(version)).pipe(Effect.orDie)
          if (previous > 0) yield* store.remove(sourceKey(id, previous)).pipe(Effect.orDie)
          // This process has just compiled it; other processes sharing the store compile it on first use.
          yield* compiled.set(new VersionOf({ id, version }), template)
          return { id, version }
        }))
      }).pipe(Effect.withSpan("Templates.put", { attributes: { id } }))

    const renderLatest = (id: string, vars: unknown) =>
      readVersion(id).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new TemplateNotFound({ id })),
          onSome: (version) => compiled.get(new VersionOf({ id, version }))
        })),
        Effect.flatMap((template) => run(id, template, vars))
      )

    const render: TemplatesShape["render"] = (id, vars) =>
      // Once more on a miss: a put may have replaced the version between reading its number and its sources.
      renderLatest(id, vars).pipe(Effect.catchTag("TemplateNotFound", () => renderLatest(id, vars)))

    return { put, render } satisfies TemplatesShape
  })
